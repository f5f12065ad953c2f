"""Run one chaos cell against the compose deployment and check it (chaos.md §6.1).

    deploy/compose/raftq-compose up
    .venv/bin/python -m tests.chaos.run kill-leader --fault-s 60

Phases: a quiet period with the workload running; the fault phase (the nemesis acting on the
new queue's backend cluster, or on the metadata group with `--group metadata`); heal
everything; a recovery period; stop sending; drain; check. The history, the nemesis log and the
summary go to `--out` (default tests/chaos/results/<cell>-<time>/). Exit status 0 when the run
is safe, valid (at least `--min-ops-per-s`) and drained; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from tests.chaos.checker import Summary, check
from tests.chaos.deployment import Deployment
from tests.chaos.history import History
from tests.chaos.nemesis import NEMESES, NemesisLog, resume_times
from tests.chaos.sdk_api import SdkQueueApi
from tests.chaos.workload import TotalQueueConfig, TotalQueueWorkload

RESULTS = Path(__file__).resolve().parent / "results"
CELLS = ("none", *NEMESES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("cell", choices=CELLS, help="the fault (none: the F0 baseline)")
    parser.add_argument("--group", help="the Raft group to fault (default: the queue's cluster)")
    parser.add_argument("--quiet-s", type=float, default=10.0)
    parser.add_argument("--fault-s", type=float, default=60.0)
    parser.add_argument("--recovery-s", type=float, default=30.0)
    parser.add_argument("--interval-s", type=float, default=10.0, help="one fault per interval")
    parser.add_argument("--down-s", type=float, default=5.0, help="how long each fault lasts")
    parser.add_argument("--producers", type=int, default=5)
    parser.add_argument("--consumers", type=int, default=5)
    parser.add_argument("--visibility-timeout-s", type=int, default=5)
    parser.add_argument("--min-ops-per-s", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out: Path = args.out or RESULTS / f"{args.cell}-{time.strftime('%Y%m%dT%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    summary, drained, resumes = asyncio.run(_run(args, out))
    report = summary.render()
    if resumes:
        known = [r for r in resumes if r is not None]
        report += f"\nwrites resumed after {len(known)} of {len(resumes)} faults: " + ", ".join(
            "never" if r is None else f"{r:.2f} s" for r in resumes
        )
    report += f"\ndrained: {drained}\nartifacts: {out}"
    (out / "summary.txt").write_text(report + "\n")
    (out / "summary.json").write_text(summary.to_json() + "\n")
    print(report)
    return 0 if summary.safe and summary.valid and drained else 1


async def _run(args: argparse.Namespace, out: Path) -> tuple[Summary, bool, list[float | None]]:
    deployment = Deployment()
    env = deployment.client_env()
    api = SdkQueueApi.connect(
        env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
    )
    queue = f"chaos-{args.cell}-{int(time.time())}"
    setup = SdkQueueApi.connect(
        env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
    )
    await setup.client.create_queue(queue, visibility_timeout_s=args.visibility_timeout_s)
    await setup.close()
    shown = await asyncio.to_thread(deployment.admin_json, "queues", "show", queue)
    group = args.group or str(shown["placement"]["cluster_id"])
    print(f"chaos: cell {args.cell} on queue {queue} (cluster {shown['placement']['cluster_id']})")

    config = TotalQueueConfig(
        queue=queue,
        producers=args.producers,
        consumers=args.consumers,
        visibility_timeout_s=args.visibility_timeout_s,
    )
    with (
        (out / "history.jsonl").open("w") as history_file,
        (out / "nemesis.jsonl").open("w") as nemesis_file,
    ):
        history = History(sink=history_file)
        log = NemesisLog(nemesis_file)
        workload = TotalQueueWorkload(api, history, config)
        stop_sending = asyncio.Event()
        running = asyncio.create_task(workload.run(stop_sending))
        await asyncio.sleep(args.quiet_s)
        nemesis = None
        if args.cell != "none":
            nemesis = NEMESES[args.cell](
                deployment,
                group,
                log,
                interval_s=args.interval_s,
                down_s=args.down_s,
                seed=args.seed,
            )
            print(f"chaos: {args.cell} on {group} for {args.fault_s:g} s")
            stop_faults = asyncio.Event()
            faulting = asyncio.create_task(nemesis.run(stop_faults))
            await asyncio.sleep(args.fault_s)
            stop_faults.set()
            await faulting
            await nemesis.heal()
            print("chaos: healed")
        await asyncio.sleep(args.recovery_s)
        stop_sending.set()
        await running
        print("chaos: draining")
        report = await workload.drain(max_s=300)
        await api.close()
    if report.unread_high_water_marks:
        print(f"chaos: unread high-water marks: {json.dumps(report.unread_high_water_marks)}")
    summary = check(history, min_ops_per_s=args.min_ops_per_s)
    return summary, report.drained, resume_times(history, log.events)


if __name__ == "__main__":
    sys.exit(main())

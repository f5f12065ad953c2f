"""Run chaos cells against the compose deployment and check them (chaos.md §6.1).

    RAFTQ_CHAOS=1 RAFTQ_FAULT_WITNESS_SYNCS=1 deploy/compose/raftq-compose up
    #   (and RAFTQ_FAULT_SMALL_DISKS_MB=4096, as root, for disk-full-leader)
    .venv/bin/python -m tests.chaos.run kill-leader --fault-s 60
    .venv/bin/python -m tests.chaos.run --matrix short     # what CI runs: 6 cells of 60 s
    .venv/bin/python -m tests.chaos.run --matrix long      # every cell, 300 s each

Phases of a cell: a quiet period with the workload running; the fault phase (the nemesis acting
on the new queue's backend cluster, or on the metadata group); heal everything; a recovery
period; stop sending; drain; check the history; then check that the replicas of every Raft
group agree (same applied index and the same chained digest of everything applied). The
history, the nemesis log and the summary go to `--out` (default
tests/chaos/results/<cell>-<time>/); a matrix also writes matrix.md, its results table. Exit
status 0 when every cell is safe, valid (at least `--min-ops-per-s` successful operations per
second), drained and agreed; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.checker import Summary, check
from tests.chaos.deployment import Deployment
from tests.chaos.history import History
from tests.chaos.nemesis import NEMESES, Nemesis, NemesisLog, resume_times
from tests.chaos.sdk_api import SdkQueueApi
from tests.chaos.workload import TotalQueueConfig, TotalQueueWorkload

RESULTS = Path(__file__).resolve().parent / "results"
GROUPS = ("metadata", "c1", "c2")


@dataclass(frozen=True)
class Cell:
    """A fault and its schedule. `group` None: the test queue's own backend cluster."""

    name: str
    nemesis: type[Nemesis] | None
    interval_s: float = 10.0
    down_s: float = 5.0
    group: str | None = None
    # How far a lease may seem to overlap another before it counts as a violation: the harness's
    # and the nodes' clock difference, plus any skew the cell itself injects (its declared bound).
    lease_margin_ms: int = 100
    # W3: a FIFO queue with this many message groups, unknown sends retried with their dedup id
    # (0: W1, the total queue on a standard queue).
    fifo_groups: int = 0
    # WD: the queue the workload consumes is the dead-letter queue, on the other backend cluster,
    # of the queue it sends to; the nemesis then acts on both clusters ("c1,c2").
    dead_letter: bool = False
    # The deployment's backend volumes must be small filesystems of their own (a disk to fill).
    small_disks: bool = False


CELLS: dict[str, Cell] = {
    cell.name: cell
    for cell in (
        Cell("none", None),
        Cell("kill-leader", NEMESES["kill-leader"], 10, 5),
        Cell("kill-metadata-leader", NEMESES["kill-leader"], 10, 5, group="metadata"),
        Cell("kill-random", NEMESES["kill-random"], 10, 5),
        Cell("kill-all", NEMESES["kill-all"], 30, 5),
        Cell("power-loss-all", NEMESES["power-loss-all"], 30, 5),
        Cell("pause-leader", NEMESES["pause-leader"], 20, 10),
        Cell("isolate-leader", NEMESES["isolate-leader"], 20, 10),
        Cell("partition-minority", NEMESES["partition-minority"], 20, 10),
        Cell("partition-leader", NEMESES["partition-leader"], 20, 10),
        Cell("partition-zone", NEMESES["partition-zone"], 30, 15),
        Cell("rolling-restart", NEMESES["rolling-restart"], 15, 0),
        Cell("clock-skew", NEMESES["clock-skew"], 20, 10, lease_margin_ms=1_100),
        Cell("clock-step-pause-leader", NEMESES["clock-step-pause-leader"], 20, 10),
        Cell("compromised-frontend", NEMESES["compromised-frontend"], 15, 1),
        Cell("replace-follower", NEMESES["replace-follower"], 30, 5),
        Cell("disk-full-leader", NEMESES["fill-disk-leader"], 20, 10, small_disks=True),
        Cell("dead-letter-kill-leaders", NEMESES["kill-either-leader"], 10, 5, dead_letter=True),
        Cell("fifo-kill-leader", NEMESES["kill-leader"], 10, 5, fifo_groups=3),
        Cell("fifo-isolate-leader", NEMESES["isolate-leader"], 20, 10, fifo_groups=3),
    )
}
MATRICES: dict[str, tuple[tuple[str, ...], float]] = {
    # Every submission (CI): the cells chaos.md §6.3 names for pull requests, a step of the
    # host's clock under leader pauses (which CI's host did once), a whole cluster's power cut,
    # dead letters forwarded to the other cluster under leader kills and an intruder in a
    # frontend, 60 s each. The FIFO cells and the full disk (which needs loop devices) run in
    # the long matrix, to keep CI's time down.
    "short": (
        (
            # First, while the cluster's log is short: a node whose state store is lost replays
            # its log since the last snapshot, and after the other cells that took 50 s, so the
            # cell ran barely above the load floor (docs/chaos.md).
            "power-loss-all",
            "dead-letter-kill-leaders",
            "compromised-frontend",
            "kill-leader",
            "isolate-leader",
            "pause-leader",
            "clock-step-pause-leader",
            "kill-all",
        ),
        60.0,
    ),
    "long": (tuple(CELLS), 300.0),
}


@dataclass
class Agreement:
    group: str
    agreed: bool
    applied_index: int | None
    detail: str


@dataclass
class CellResult:
    cell: str
    fault_s: float
    summary: Summary
    drained: bool
    resumes: list[float | None]
    agreements: list[Agreement] = field(default_factory=list)
    out: Path = RESULTS
    # Steps of the nemesis that failed (nemesis.jsonl has them): the faults did not all happen.
    nemesis_errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        agreed = all(a.agreed for a in self.agreements)
        ran = not self.nemesis_errors
        return self.summary.safe and self.summary.valid and self.drained and agreed and ran

    def render(self) -> str:
        lines = [f"cell {self.cell} ({self.fault_s:g} s of faults)", self.summary.render()]
        if self.resumes:
            lines.append(
                f"writes resumed after {sum(r is not None for r in self.resumes)} of "
                f"{len(self.resumes)} faults: "
                + ", ".join("never" if r is None else f"{r:.2f} s" for r in self.resumes)
            )
        lines.append(f"drained: {self.drained}")
        if self.nemesis_errors:
            lines.append(
                f"NEMESIS ERRORS: {len(self.nemesis_errors)}, first: {self.nemesis_errors[0]}"
            )
        lines += [
            f"replicas of {a.group}: {'agree' if a.agreed else 'DISAGREE'} ({a.detail})"
            for a in self.agreements
        ]
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}; artifacts: {self.out}")
        return "\n".join(lines)


async def run_cell(
    deployment: Deployment,
    cell: Cell,
    out: Path,
    *,
    fault_s: float = 60.0,
    quiet_s: float = 10.0,
    recovery_s: float = 30.0,
    producers: int = 5,
    consumers: int = 5,
    visibility_timeout_s: int = 5,
    min_ops_per_s: float = 100.0,
    seed: int = 0,
    drain_max_s: float = 300.0,
) -> CellResult:
    out.mkdir(parents=True, exist_ok=True)
    if cell.small_disks and not deployment.has_small_disks():
        raise RuntimeError(
            f"cell {cell.name} fills a node's disk: bring the deployment up with RAFTQ_CHAOS=1 "
            "RAFTQ_FAULT_SMALL_DISKS_MB=4096 deploy/compose/raftq-compose up (as root)"
        )
    env = deployment.client_env()
    endpoint, key_id, secret = (
        env["RAFTQ_ENDPOINT"],
        env["RAFTQ_ACCESS_KEY_ID"],
        env["RAFTQ_SECRET_ACCESS_KEY"],
    )
    fifo = cell.fifo_groups > 0
    setup = SdkQueueApi.connect(endpoint, key_id, secret, timeout_s=30)
    try:
        queue, queue_id, source, group = await _create_queues(
            deployment, setup, cell, visibility_timeout_s
        )
    finally:
        await setup.close()

    api = SdkQueueApi.connect(endpoint, key_id, secret)
    config = TotalQueueConfig(
        queue=queue,
        producers=producers,
        consumers=consumers,
        visibility_timeout_s=visibility_timeout_s,
        fifo_groups=cell.fifo_groups,
        dead_letter_source=source,
        # Well inside the 5 min dedup window, and longer than any fault the cells hold.
        retry_unknown_s=60.0 if fifo else 0.0,
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
        await asyncio.sleep(quiet_s)
        if cell.nemesis is not None:
            nemesis = cell.nemesis(
                deployment,
                group,
                log,
                interval_s=cell.interval_s,
                down_s=cell.down_s,
                seed=seed,
                queue_id=queue_id,
            )
            print(f"chaos: {cell.name} on {group} for {fault_s:g} s", flush=True)
            stop_faults = asyncio.Event()
            faulting = asyncio.create_task(nemesis.run(stop_faults))
            try:
                await asyncio.sleep(fault_s)
                stop_faults.set()
                await faulting
            finally:
                await nemesis.heal()
            print("chaos: healed", flush=True)
        await asyncio.sleep(recovery_s)
        stop_sending.set()
        await running
        print("chaos: draining", flush=True)
        report = await workload.drain(max_s=drain_max_s)
        await api.close()
    if report.unread_high_water_marks:
        print(f"chaos: unread high-water marks: {json.dumps(report.unread_high_water_marks)}")
    summary = check(history, margin_ms=cell.lease_margin_ms, min_ops_per_s=min_ops_per_s)
    agreements = [await asyncio.to_thread(agreement, deployment, g) for g in GROUPS]
    result = CellResult(
        cell=cell.name,
        fault_s=fault_s if cell.nemesis is not None else 0.0,
        summary=summary,
        drained=report.drained,
        resumes=resume_times(history, log.events),
        agreements=agreements,
        out=out,
        nemesis_errors=[e.detail or "" for e in log.events if e.action == "error"],
    )
    (out / "summary.txt").write_text(result.render() + "\n")
    (out / "summary.json").write_text(summary.to_json() + "\n")
    return result


async def _create_queues(
    deployment: Deployment, setup: SdkQueueApi, cell: Cell, visibility_timeout_s: int
) -> tuple[str, str, str | None, str]:
    """The cell's queue and its id, the queue WD sends to (None for W1 and W3) and the nemesis's
    group."""
    fifo = cell.fifo_groups > 0
    queue = f"chaos-{cell.name}-{int(time.time())}" + (".fifo" if fifo else "")
    await setup.client.create_queue(queue, fifo=fifo, visibility_timeout_s=visibility_timeout_s)
    cluster, queue_id = await asyncio.to_thread(_placement_of, deployment, queue)
    print(f"chaos: cell {cell.name} on queue {queue} (cluster {cluster})", flush=True)
    if not cell.dead_letter:
        return queue, queue_id, None, cell.group or cluster
    source = f"{queue}-source"
    await setup.client.create_queue(source, dead_letter={"queue": queue, "max_receive_count": 1})
    source_cluster = await asyncio.to_thread(_other_cluster_for, deployment, source, cluster)
    print(f"chaos: {source} on {source_cluster} dead-letters to {queue} on {cluster}", flush=True)
    return queue, queue_id, source, cell.group or f"{source_cluster},{cluster}"


def _cluster_of(deployment: Deployment, queue: str) -> str:
    return _placement_of(deployment, queue)[0]


def _placement_of(deployment: Deployment, queue: str) -> tuple[str, str]:
    """The queue's cluster and its id."""
    shown = deployment.admin_json("queues", "show", queue)
    return str(shown["placement"]["cluster_id"]), str(shown["queue_id"])


def _other_cluster_for(deployment: Deployment, queue: str, avoid: str) -> str:
    """The cluster `queue` is on, after moving it off `avoid` if placement put it there."""
    cluster = _cluster_of(deployment, queue)
    if cluster == avoid:
        others = sorted(set(GROUPS) - {"metadata", avoid})
        deployment.admin_json("queues", "move", queue, "--to", others[0])
        cluster = _cluster_of(deployment, queue)
    if cluster == avoid:
        raise RuntimeError(f"{queue} stayed on {avoid} after a move")
    return cluster


def agreement(deployment: Deployment, group: str, max_s: float = 30.0) -> Agreement:
    """Whether every member of `group` reports the same applied index with the same digest.
    Polled until they line up (a follower may still be catching up) or `max_s` passes."""
    deadline = time.monotonic() + max_s
    detail = ""
    while True:
        statuses = {m: deployment.node_status(m) for m in deployment.members(group)}
        missing = sorted(m for m, s in statuses.items() if s is None)
        if missing:
            detail = f"no status from {', '.join(missing)}"
        else:
            applied = {
                m: (int(s["machine_applied_index"]), str(s["digest"]))
                for m, s in statuses.items()
                if s
            }
            indexes = {index for index, _ in applied.values()}
            if len(indexes) == 1:
                digests = {digest for _, digest in applied.values()}
                index = indexes.pop()
                if len(digests) == 1:
                    return Agreement(group, True, index, f"applied index {index}, one digest")
                return Agreement(group, False, index, f"different digests at index {index}")
            detail = "applied indexes " + ", ".join(
                f"{m} {i}" for m, (i, _) in sorted(applied.items())
            )
        if time.monotonic() >= deadline:
            return Agreement(group, False, None, detail)
        time.sleep(0.5)


def matrix_table(results: list[CellResult]) -> str:
    """The results table (docs/chaos.md)."""
    rows = [
        "| cell | fault s | acknowledged sends | lost | unexpected | recovered | legal duplicates "
        "| violations | longest window without an ack (s) | writes resumed after a fault (s): "
        "median / max | ok ops/s until the last send | largest clock step (ms) "
        "| replicas agree | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.summary
        known = [x for x in r.resumes if x is not None]
        never = len(r.resumes) - len(known)
        resumed = (f"{statistics.median(known):.1f} / {max(known):.1f}" if known else "—") + (
            f" ({never} never)" if never else ""
        )
        agreed = "yes" if all(a.agreed for a in r.agreements) else "NO"
        violations = s.duplicates.violations + s.g1a + s.fifo_inversions + s.dedup_violations
        rows.append(
            f"| {r.cell} | {r.fault_s:g} | {s.acknowledged} | {s.lost} | {s.unexpected} "
            f"| {s.recovered} | {s.duplicates.legal} | {violations} "
            f"| {s.longest_without_acknowledged_send_s:.1f} | {resumed} | {s.ops_per_s:.0f} "
            f"| {s.largest_wall_clock_step_ms:.0f} | {agreed} | {'pass' if r.passed else 'FAIL'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("cells", nargs="*", metavar="CELL", help=f"cells: {', '.join(CELLS)}")
    parser.add_argument("--matrix", choices=tuple(MATRICES), help="a matrix of cells instead")
    parser.add_argument("--fault-s", type=float, help="default: 60 (the matrix's own)")
    parser.add_argument("--quiet-s", type=float, default=10.0)
    parser.add_argument("--recovery-s", type=float, default=30.0)
    parser.add_argument("--min-ops-per-s", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if bool(args.cells) == bool(args.matrix):
        parser.error("name cells or one --matrix")
    unknown = [c for c in args.cells if c not in CELLS]
    if unknown:
        parser.error(f"no cell {', '.join(unknown)}; cells: {', '.join(CELLS)}")
    names, fault_s = MATRICES[args.matrix] if args.matrix else (tuple(args.cells), 60.0)
    fault_s = args.fault_s if args.fault_s is not None else fault_s
    label = args.matrix or "+".join(names)
    out: Path = args.out or RESULTS / f"{label}-{time.strftime('%Y%m%dT%H%M%S')}"
    results = asyncio.run(_run_all(names, out, fault_s, args))
    if len(results) > 1:
        table = matrix_table(results)
        (out / "matrix.md").write_text(table + "\n")
        print(table)
    return 0 if all(r.passed for r in results) else 1


async def _run_all(
    names: tuple[str, ...], out: Path, fault_s: float, args: argparse.Namespace
) -> list[CellResult]:
    deployment = Deployment()
    results = []
    for name in names:
        cell_out = out / name if len(names) > 1 else out
        result = await run_cell(
            deployment,
            CELLS[name],
            cell_out,
            fault_s=fault_s,
            quiet_s=args.quiet_s,
            recovery_s=args.recovery_s,
            min_ops_per_s=args.min_ops_per_s,
            seed=args.seed,
        )
        print(result.render(), flush=True)
        results.append(result)
    return results


if __name__ == "__main__":
    sys.exit(main())

"""Tasks side by side: raftq's task layer and Celery on a three-node RabbitMQ quorum queue, in
the same run, on the same machine, with the same load.

The load: a no-op task (it only records its execution: bench/tasks_common.py); 32 submitters,
each submitting one task and waiting for the system's confirmation before the next; one worker
running 8 tasks at once. Per system:
- throughput run (`--tasks`, 20,000): tasks/s end to end (first submit until every task is
  done) and confirmed submits/s (confirmed submits / first submit to last confirmation);
  broker and worker CPU per task (utime + stime from /proc of their process trees);
- paced run (`--paced-tasks` at `--rate`, 3,000 at 100 tasks/s): submit-to-start p50 / p99;
- every run: lost (submitted, never executed) and duplicated (executions beyond the first).
raftq: `raftq up` (3 metadata nodes, a backend cluster of 3, a frontend; fsync on; the
frontend's rate limits off), submissions through `AsyncClient.submit_task`, `raftq worker
--concurrency 8 --min-concurrency 8`; "done" = the task's finish committed (the queue shows
nothing visible, in flight or delayed). Then the kill variant (`--kill-tasks`, 5,000):
`kill -9` of the worker when a third of the tasks ran, a new worker started at once; every
task must end succeeded; the reruns are counted.
Celery 5.7: prefork, concurrency 8, task_acks_late, persistent messages, publisher confirms,
worker_prefetch_multiplier 1 and 4 (`--prefetch`), one quorum queue on RabbitMQ 3.10 (Debian's
package), three nodes on 127.0.0.1; "done" = the task ran (its ack follows at once).

  python -m bench.tasks_bench                              # everything, ~10 min on 2 cores
  python -m bench.tasks_bench --tasks 2000 --paced-tasks 500 --kill-tasks 1000  # a smoke run

Prints a Markdown table (with the machine) and writes it, and every run's JSON, to
`--out-dir`. Celery needs its own virtualenv (`--celery-venv`) and the RabbitMQ start and stop
scripts (`--peers-dir`): see bench/tasks_celery_side.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.tasks_common import describe_machine, loadavg_1min, machine

DEFAULT_CELERY_VENV = Path("/tmp/taskbench-celery-venv")


def _wait_for_load(threshold: float, max_wait_s: float) -> float:
    deadline = time.monotonic() + max_wait_s
    while (load := loadavg_1min()) >= threshold and time.monotonic() < deadline:
        print(f"1-min load {load:.2f} >= {threshold}: waiting")
        time.sleep(5)
    return load


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _row(name: str, throughput: dict[str, Any] | None, paced: dict[str, Any] | None) -> str:
    tp = throughput or {}
    cpu = tp.get("cpu_ms_per_task", {})
    latency = "n/a"
    if paced is not None:
        s = paced["submit_to_start_ms"]
        latency = f"{_fmt(s['p50'], 1)} / {_fmt(s['p99'], 1)}"
    runs = [r for r in (throughput, paced) if r is not None]
    lost = sum(r["accounting"]["lost"] for r in runs)
    duplicated = sum(r["accounting"]["duplicated"] for r in runs)
    return (
        f"| {name} | {_fmt(tp.get('tasks_per_s'))} | {_fmt(tp.get('submits_per_s'))} "
        f"| {latency} | {_fmt(cpu.get('broker'), 2)} | {_fmt(cpu.get('worker'), 2)} "
        f"| {lost} / {duplicated} |"
    )


def table(info: dict[str, Any], results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    def find(system: str, mode: str, variant: str) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in results
                if r["system"] == system and r["mode"] == mode and r["variant"] == variant
            ),
            None,
        )

    lines = [
        f"Machine: {describe_machine(info)}. {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"{args.tasks:,} no-op tasks, 32 submitters one task at a time, a worker running 8 at "
        f"once; paced run {args.paced_tasks:,} tasks at {args.rate:g}/s. CPU per task in the "
        "throughput run.",
        "",
        "| system | tasks/s end to end | confirmed submits/s "
        f"| paced {args.rate:g}/s submit-to-start p50 / p99 ms "
        "| broker CPU per task ms | worker CPU per task ms | lost / duplicated |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    if any(r["system"] == "raftq" for r in results):
        lines.append(_row("raftq", find("raftq", "throughput", ""), find("raftq", "paced", "")))
    for index, prefetch in enumerate(args.prefetch):
        variant = f"prefetch multiplier {prefetch}"
        throughput = find("celery", "throughput", variant)
        if throughput is not None:
            paced = find("celery", "paced", variant) if index == 0 else None
            lines.append(_row(f"Celery, {variant}", throughput, paced))
    kill = find("raftq", "throughput", "kill -9 a worker mid-run")
    if kill is not None:
        a, states = kill["accounting"], kill["task_states"]
        others = {k: v for k, v in states.items() if v and k not in ("succeeded", "retried")}
        lines += [
            "",
            f"raftq, a worker killed under load ({kill['tasks']:,} tasks; `kill -9` after "
            f"{kill['kill']['executed_at_kill']:,} had run, a new worker started at once; "
            f"lease {kill['lease_s']:g} s; each task takes {kill['task_ms']:g} ms):",
            "",
            "| submitted | confirmed | executed at least once | lost | reruns (executions "
            "beyond the first) | tasks with attempt > 1 | succeeded | other states "
            "| tasks/s end to end |",
            "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
            f"| {a['submitted']:,} | {kill['submit_ms']['n']:,} | {a['executed_once_or_more']:,} "
            f"| {a['lost']} | {a['duplicated']} | {states['retried']} | {states['succeeded']:,} "
            f"| {others or 'none'} | {_fmt(kill['tasks_per_s'])} |",
        ]
    versions = {k: v for r in results for k, v in r.get("versions", {}).items()}
    loads = ", ".join(f"{r['system']} {r['mode']} {r['load_1min_start']}" for r in results)
    lines += [
        "",
        f"Versions: {versions}; {_rabbit_version()}. 1-min load at each run's start: {loads}.",
    ]
    return "\n".join(lines)


def _rabbit_version() -> str:
    found = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}; ", "rabbitmq-server", "erlang-base"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip().rstrip(";") or "rabbitmq-server not installed"


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--systems", default="celery,raftq", help="comma list")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--paced-tasks", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=100.0, help="paced run, tasks/s")
    parser.add_argument("--kill-tasks", type=int, default=5_000, help="0: no kill variant")
    parser.add_argument("--kill-task-ms", type=float, default=20.0,
                        help="how long each task of the kill variant takes")  # fmt: skip
    parser.add_argument("--submitters", type=int, default=32)
    parser.add_argument("--prefetch", type=_int_list, default=[1, 4],
                        help="Celery's worker_prefetch_multiplier values")  # fmt: skip
    parser.add_argument("--celery-venv", type=Path, default=DEFAULT_CELERY_VENV)
    parser.add_argument("--peers-dir", default=None, help="where start-rabbitmq.sh is")
    parser.add_argument("--load", type=float, default=99.0,
                        help="wait (at most --load-wait-s) for the 1-min load to fall below this "
                        "before each system")  # fmt: skip
    parser.add_argument("--load-wait-s", type=float, default=600.0)
    default_out = Path("/tmp/raftq-taskbench") / time.strftime("%Y-%m-%d-%H%M")
    parser.add_argument("--out-dir", type=Path, default=default_out)
    args = parser.parse_args()
    systems = args.systems.split(",")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {describe_machine(info)}; results in {args.out_dir}")
    results: list[dict[str, Any]] = []
    if "celery" in systems:
        from bench.tasks_celery_side import find_peers_dir, run_celery  # noqa: PLC0415

        _wait_for_load(args.load, args.load_wait_s)
        print("celery: RabbitMQ cluster, worker, runs")
        results += run_celery(
            peers=find_peers_dir(args.peers_dir),
            celery_venv=args.celery_venv,
            prefetches=args.prefetch,
            tasks=args.tasks,
            paced_tasks=args.paced_tasks,
            rate=args.rate,
            submitters=args.submitters,
            concurrency=8,
            out_dir=args.out_dir,
        )
    if "raftq" in systems:
        from bench.tasks_raftq_side import run_raftq  # noqa: PLC0415

        _wait_for_load(args.load, args.load_wait_s)
        results += asyncio.run(
            run_raftq(
                tasks=args.tasks,
                paced_tasks=args.paced_tasks,
                rate=args.rate,
                submitters=args.submitters,
                kill_tasks=args.kill_tasks,
                kill_task_ms=args.kill_task_ms,
                out_dir=args.out_dir,
            )
        )
    (args.out_dir / "results.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=1)
    )
    text = table(info, results, args)
    (args.out_dir / "results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

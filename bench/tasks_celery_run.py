"""One measured run of the Celery side against a running RabbitMQ cluster and Celery worker.

Runs in Celery's virtualenv (bench/tasks_bench.py starts it; cwd: the repository):

  python -m bench.tasks_celery_run --mode throughput --tasks 20000 --worker-pid PID \
      --broker-pids P1,P2,P3 --label "prefetch 1" --out run.json

Sequence: warm up every submitter's connection (3 tasks each, waited for) -> CPU sample ->
release the submitter threads; each takes the next sequence number, `apply_async` (returns
once the publish is confirmed), repeats (paced mode: each task waits for its slot at
`--rate` tasks/s in total) -> end = all `--tasks` executions recorded (polled every 10 ms) ->
CPU sample -> the queue's ready count (passive declare) -> accounting from the records.
Prints the result as JSON (bench/tasks_bench.py's schema) and writes it to `--out`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import tasks_common as common
from bench.tasks_celery_app import QUEUE, RECORD_DIR, app, record

WARM_PER_SUBMITTER = 3


class Submitters:
    """`count` threads sharing one sequence counter; each submits one task at a time."""

    def __init__(self, count: int, tasks: int, tag: str, rate_per_s: float | None) -> None:
        self.count, self.tasks, self.tag, self.rate_per_s = count, tasks, tag, rate_per_s
        self._next = itertools.count()
        self._go = threading.Event()
        self.t0_s = 0.0
        self.first_s: list[float] = []
        self.last_s: list[float] = []
        self.confirm_s: list[float] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        self._go.wait()
        durations, errors, first, last = [], [], None, None
        while (seq := next(self._next)) < self.tasks:
            if self.rate_per_s is not None:
                time.sleep(max(0.0, self.t0_s + seq / self.rate_per_s - time.time()))
            started = time.time()
            first = first or started
            try:
                record.apply_async(args=(self.tag, seq, started))
            except Exception as error:  # counted and reported, not fatal
                errors.append(f"{seq}: {error!r}")
                continue
            last = time.time()
            durations.append(last - started)
        with self._lock:
            self.confirm_s += durations
            self.errors += errors
            if first is not None and last is not None:
                self.first_s.append(first)
                self.last_s.append(last)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        time.sleep(0.2)  # every thread is waiting on the event
        self.t0_s = time.time() + 0.05
        self._go.set()

    def join(self, timeout_s: float) -> None:
        for thread in self.threads:
            thread.join(timeout=timeout_s)


def warm_up(count: int, tag: str) -> int:
    """Open `count` pooled producer connections at once and publish on each, so the measured
    run starts with connected, declared producers (as a long-running service would have)."""
    barrier = threading.Barrier(count)
    errors: list[str] = []

    def one(index: int) -> None:
        try:
            with app.producer_or_acquire() as producer:
                for k in range(WARM_PER_SUBMITTER):
                    seq = index * WARM_PER_SUBMITTER + k
                    record.apply_async(args=(tag, seq, time.time()), producer=producer)
                barrier.wait(timeout=60)
        except Exception as error:  # reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise RuntimeError(f"warm-up failed: {errors[:3]}")
    return count * WARM_PER_SUBMITTER


def queue_ready() -> int:
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        _, ready, _consumers = connection.default_channel.queue_declare(QUEUE, passive=True)
        return int(ready)


def run(args: argparse.Namespace) -> dict[str, Any]:
    paced = args.mode == "paced"
    tag = f"c{args.mode[0]}{int(time.time() * 1000)}"
    Path(RECORD_DIR).mkdir(parents=True, exist_ok=True)
    warm = warm_up(args.submitters, "w" + tag)
    if common.wait_records(RECORD_DIR, "w" + tag, warm, 120) is None:
        raise RuntimeError("the warm-up tasks did not run within 120 s")
    broker_roots = [int(p) for p in args.broker_pids.split(",")]
    roots = [*broker_roots, args.worker_pid]
    load_start = common.loadavg_1min()
    submitters = Submitters(args.submitters, args.tasks, tag, args.rate if paced else None)
    broker0, worker0 = common.sample_trees(broker_roots), common.sample_trees([args.worker_pid])
    client0 = common.client_cpu_s()
    submitters.start()
    end_s = common.wait_records(RECORD_DIR, tag, args.tasks, args.timeout_s)
    broker1, worker1 = common.sample_trees(broker_roots), common.sample_trees([args.worker_pid])
    client1 = common.client_cpu_s()
    submitters.join(60)
    time.sleep(0.5)  # the acks of the last tasks (late acks follow the task's return)
    executions = common.read_records(RECORD_DIR, tag)
    first_s = min(submitters.first_s)
    confirmed = len(submitters.confirm_s)
    submit_s = max(submitters.last_s) - first_s
    e2e_s = None if end_s is None else end_s - first_s
    per_task_ms = 1000 / args.tasks
    return {
        "system": "celery",
        "variant": args.label,
        "mode": args.mode,
        "tasks": args.tasks,
        "submitters": args.submitters,
        "rate_per_s": args.rate if paced else None,
        "timed_out": end_s is None,
        "e2e_s": None if e2e_s is None else round(e2e_s, 3),
        "tasks_per_s": None if e2e_s is None else round(args.tasks / e2e_s, 1),
        "submits_per_s": round(confirmed / submit_s, 1) if submit_s > 0 else None,
        "submit_errors": submitters.errors[:20],
        "submit_ms": common.summary_ms(submitters.confirm_s),
        "submit_to_start_ms": common.summary_ms(common.submit_to_start_s(executions)),
        "cpu_ms_per_task": {
            "broker": round(common.cpu_between(broker0, broker1) * per_task_ms, 3),
            "worker": round(common.cpu_between(worker0, worker1) * per_task_ms, 3),
            "client": round((client1 - client0) * per_task_ms, 3),
        },
        "accounting": common.accounting(executions, args.tasks),
        "left_in_queue": queue_ready(),
        "load_1min_start": load_start,
        "cpu_roots": roots,
        "versions": {p: metadata.version(p) for p in ("celery", "kombu", "amqp", "billiard")},
        "config": {
            "prefetch_multiplier": app.conf.worker_prefetch_multiplier,
            "acks_late": app.conf.task_acks_late,
            "queue_type": app.conf.task_default_queue_type,
            "confirm_publish": app.conf.broker_transport_options.get("confirm_publish"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("throughput", "paced"), required=True)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--submitters", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0, help="paced: tasks/s in total")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--broker-pids", required=True, help="comma list (the beam processes)")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", required=True)
    result = run(parser.parse_args())
    text = json.dumps(result, indent=1)
    Path(parser.parse_args().out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

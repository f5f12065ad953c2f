"""Runs the raftq side of the tasks benchmark: `raftq up`, a `raftq worker` per run, and the
submitters through the SDK (`AsyncClient.submit_task`), in this process.

Each measured run gets a queue of its own (so `list_tasks` counts exactly that run's tasks) and
a worker of its own (`--concurrency 8 --min-concurrency 8`: eight slots from the start, like
Celery's eight pool processes). Sequence: warm up (3 tasks per submitter, waited for) -> CPU
sample -> 32 submitter coroutines on one client, each submitting one task and waiting for its
201 before the next (paced mode: each task waits for its slot) -> all executions recorded ->
the queue shows nothing visible, in flight or delayed (polled every 20 ms; that is the end:
every task's finish was committed) -> CPU sample -> the tasks' states from `list_tasks`.

The kill variant: one worker, and when a third of the tasks have run, `kill -9` of that worker
and a new one started at once. Its tasks take `kill_task_ms` each (20 ms: a no-op's attempt
is over in microseconds, and a kill would often find nothing running). The killed worker's
leases run out (`--lease-s` 10 s) and their tasks run again: every submitted task must end
`succeeded`, some executed twice (the reruns).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import tasks_common as common
from bench.task_load import count_states
from raftq.client.errors import RaftqApiError
from raftq.client.sdk import AsyncClient
from tests.integration.up_process import free_base_port

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
WARM_PER_SUBMITTER = 3
KILL_LEASE_S = 10.0


@dataclass(frozen=True)
class Deployment:
    up: subprocess.Popen[bytes]
    env: dict[str, str]


@contextlib.contextmanager
def raftq_up(data_dir: Path, log: Path) -> Iterator[Deployment]:
    """A whole local raftq on free loopback ports, without the frontend's rate limits (the
    RabbitMQ side has none either); stopped with SIGTERM at the end, SIGKILL after 30 s."""
    command = [
        sys.executable, "-m", "raftq.client.cli", "up", "--data-dir", str(data_dir),
        "--base-port", str(free_base_port(14)),
        "--rate-limit-per-key", "0", "--rate-limit-per-queue", "0",
    ]  # fmt: skip
    with log.open("ab") as out:
        up = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while b"raftq is up" not in log.read_bytes():
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"raftq up did not come up; see {log}")
            time.sleep(0.2)
        env = dict(os.environ)
        for line in (data_dir / "client.env").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        yield Deployment(up, env)
    finally:
        _stop(up)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def start_worker(
    deployment: Deployment, queue: str, record_dir: Path, log: Path, lease_s: float
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "raftq.client.cli", "worker", "bench.tasks_raftq_app:tasks",
        "--queue", queue, "--concurrency", "8", "--min-concurrency", "8",
        "--lease-s", str(lease_s), "--log-level", "WARNING",
    ]  # fmt: skip
    env = {
        **deployment.env,
        "PYTHONPATH": str(REPO),
        "TASKBENCH_RECORD_DIR": str(record_dir),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True
        )


def client_of(deployment: Deployment) -> AsyncClient:
    env = deployment.env
    return AsyncClient(
        env["RAFTQ_ENDPOINT"], env["RAFTQ_ACCESS_KEY_ID"], env["RAFTQ_SECRET_ACCESS_KEY"]
    )


async def _wait_records(counter: common.RecordCounter, count: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while counter.update() < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _wait_drained(client: AsyncClient, queue: str, timeout_s: float) -> float | None:
    """The wall-clock time the queue first showed nothing visible, in flight or delayed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = (await client.get_queue(queue)).get("counts") or {}
        if not (counts.get("visible") or counts.get("in_flight") or counts.get("delayed")):
            return time.time()
        await asyncio.sleep(0.02)
    return None


class Submitters:
    """`count` coroutines sharing one sequence counter, each submitting one task at a time."""

    def __init__(
        self, client: AsyncClient, queue: str, tag: str, tasks: int, sleep_ms: float = 0.0
    ) -> None:
        self.client, self.queue, self.tag, self.tasks = client, queue, tag, tasks
        self.sleep_ms = sleep_ms
        self._next = itertools.count()
        self.first_s: float | None = None
        self.last_s = 0.0
        self.confirm_s: list[float] = []
        self.errors: list[str] = []

    async def _one(self, t0_s: float, rate_per_s: float | None) -> None:
        while (seq := next(self._next)) < self.tasks:
            if rate_per_s is not None:
                await asyncio.sleep(max(0.0, t0_s + seq / rate_per_s - time.time()))
            started = time.time()
            self.first_s = min(self.first_s or started, started)
            payload: dict[str, object] = {"tag": self.tag, "seq": seq, "submitted_at_s": started}
            if self.sleep_ms:
                payload["sleep_ms"] = self.sleep_ms
            try:
                await self.client.submit_task(self.queue, common.TASK_TYPE, payload)
            except RaftqApiError as error:
                self.errors.append(f"{seq}: {error!r}")
                continue
            self.last_s = time.time()
            self.confirm_s.append(self.last_s - started)

    async def run(self, count: int, rate_per_s: float | None) -> None:
        t0_s = time.time()
        await asyncio.gather(*(self._one(t0_s, rate_per_s) for _ in range(count)))


async def measured_run(
    deployment: Deployment,
    *,
    mode: str,
    tasks: int,
    rate: float,
    submitters: int,
    record_dir: Path,
    log: Path,
    kill_at_fraction: float | None = None,
    task_ms: float = 0.0,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    paced = mode == "paced"
    tag = f"r{mode[0]}{int(time.time() * 1000)}"
    queue = f"taskbench-{tag}"
    lease_s = KILL_LEASE_S if kill_at_fraction is not None else 30.0
    record_dir.mkdir(parents=True, exist_ok=True)
    async with client_of(deployment) as client:
        await client.create_queue(queue)
        workers = [start_worker(deployment, queue, record_dir, log, lease_s)]
        try:
            warm = Submitters(client, queue, "w" + tag, submitters * WARM_PER_SUBMITTER)
            await warm.run(submitters, None)
            if not await _wait_records(common.RecordCounter(str(record_dir), "w" + tag),
                                       warm.tasks, 120):  # fmt: skip
                raise RuntimeError(f"the warm-up tasks did not run within 120 s; see {log}")
            broker_roots = [deployment.up.pid]
            load_start = common.loadavg_1min()
            broker0 = common.sample_trees(broker_roots)
            worker0 = common.sample_trees([workers[0].pid])
            client0 = common.client_cpu_s()
            started_s = time.time()
            run = Submitters(client, queue, tag, tasks, task_ms)
            submitting = asyncio.create_task(run.run(submitters, rate if paced else None))
            counter = common.RecordCounter(str(record_dir), tag)
            kill: dict[str, Any] = {}
            if kill_at_fraction is not None:
                await _wait_records(counter, int(tasks * kill_at_fraction), timeout_s)
                kill = _kill_and_replace(
                    workers, worker0, deployment=deployment, queue=queue,
                    record_dir=record_dir, log=log,
                )  # fmt: skip
                kill["executed_at_kill"] = counter.update()
            executed = await _wait_records(counter, tasks, timeout_s)
            await submitting
            end_s = await _wait_drained(client, queue, timeout_s) if executed else None
            broker1 = common.sample_trees(broker_roots)
            worker1 = common.sample_trees([w.pid for w in workers if w.poll() is None])
            client1 = common.client_cpu_s()
            states = await count_states(client, queue, created_after_s=started_s)
        finally:
            for worker in workers:
                _stop(worker)
    executions = common.read_records(str(record_dir), tag)
    first_s = run.first_s or time.time()
    submit_s = run.last_s - first_s
    e2e_s = None if end_s is None else end_s - first_s
    per_task_ms = 1000 / tasks
    worker_cpu_s = common.cpu_between(worker0, worker1)
    if kill:  # the killed worker's CPU up to its last sample, the new one's from its start
        worker_cpu_s += kill.pop("killed_worker_cpu_s")
    return {
        "system": "raftq",
        "variant": "kill -9 a worker mid-run" if kill else "",
        "mode": mode,
        "tasks": tasks,
        "submitters": submitters,
        "rate_per_s": rate if paced else None,
        "timed_out": end_s is None,
        "e2e_s": None if e2e_s is None else round(e2e_s, 3),
        "tasks_per_s": None if e2e_s is None else round(tasks / e2e_s, 1),
        "submits_per_s": round(len(run.confirm_s) / submit_s, 1) if submit_s > 0 else None,
        "submit_errors": run.errors[:20],
        "submit_ms": common.summary_ms(run.confirm_s),
        "submit_to_start_ms": common.summary_ms(common.submit_to_start_s(executions)),
        "cpu_ms_per_task": {
            "broker": round(common.cpu_between(broker0, broker1) * per_task_ms, 3),
            "worker": round(worker_cpu_s * per_task_ms, 3),
            "client": round((client1 - client0) * per_task_ms, 3),
        },
        "accounting": common.accounting(executions, tasks),
        "task_states": states,
        "kill": kill or None,
        "load_1min_start": load_start,
        "lease_s": lease_s,
        "task_ms": task_ms,
        "versions": {"raftq": metadata.version("raftq")},
    }


def _kill_and_replace(
    workers: list[subprocess.Popen[bytes]],
    since: common.CpuSample,
    *,
    deployment: Deployment,
    queue: str,
    record_dir: Path,
    log: Path,
) -> dict[str, Any]:
    """SIGKILL the running worker (by its pid: we started it) and start another at once; the
    killed worker's CPU since `since` is returned, its tree's CPU ends with it."""
    victim = workers[0]
    cpu_s = common.cpu_between(since, common.sample_trees([victim.pid]))
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=STOP_TIMEOUT_S)
    workers[0] = start_worker(deployment, queue, record_dir, log, KILL_LEASE_S)
    workers.append(victim)  # already reaped; kept so the cleanup below is uniform
    return {"killed_pid": victim.pid, "killed_at_s": time.time(), "killed_worker_cpu_s": cpu_s}


async def run_raftq(
    *,
    tasks: int,
    paced_tasks: int,
    rate: float,
    submitters: int,
    kill_tasks: int,
    kill_task_ms: float,
    out_dir: Path,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """A throughput run, a paced run and (if `kill_tasks`) the kill variant, on one `raftq up`."""
    record_dir = out_dir / "records"
    log = out_dir / "raftq.log"
    results: list[dict[str, Any]] = []
    with raftq_up(out_dir / "raftq-data", log) as deployment:
        runs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            ("throughput", lambda: measured_run(deployment, mode="throughput", tasks=tasks,
                rate=rate, submitters=submitters, record_dir=record_dir, log=log)),
            ("paced", lambda: measured_run(deployment, mode="paced", tasks=paced_tasks,
                rate=rate, submitters=submitters, record_dir=record_dir, log=log)),
        ]  # fmt: skip
        if kill_tasks:
            runs.append(("kill", lambda: measured_run(deployment, mode="throughput",
                tasks=kill_tasks, rate=rate, submitters=submitters, record_dir=record_dir,
                log=log, kill_at_fraction=1 / 3, task_ms=kill_task_ms)))  # fmt: skip
        for name, run in runs:
            progress(f"raftq: {name} run")
            results.append(await run())
    return results

"""Runs the Celery side of the tasks benchmark: the RabbitMQ cluster, a Celery worker per
prefetch setting, and bench/tasks_celery_run.py in Celery's virtualenv for each measured run.

The RabbitMQ cluster (3 nodes on 127.0.0.1, AMQP 5672-5674, data under /tmp/peerbench-rabbit)
is started and stopped by the peer harness's scripts (`start-rabbitmq.sh`, `stop-rabbitmq.sh
--wipe`), found with `--peers-dir`; RabbitMQ itself comes from Debian's packages
(`apt-get install rabbitmq-server`). Celery goes into its own virtualenv (`--celery-venv`):
`python3 -m venv V && V/bin/pip install 'celery==5.7.0' 'aio-pika>=9,<10'` (the start script
declares its own queue through aio-pika).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.tasks_common import tree

REPO = Path(__file__).resolve().parent.parent
RABBIT_PIDS = Path("/tmp/peerbench-rabbit/pids")
WORKER_READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


def find_peers_dir(given: str | None) -> Path:
    candidates = [Path(given)] if given else []
    candidates += [REPO.parent / "shared" / "peers", REPO.parent.parent / "shared" / "peers"]
    for candidate in candidates:
        if (candidate / "start-rabbitmq.sh").exists():
            return candidate
    raise SystemExit(f"no start-rabbitmq.sh in {[str(c) for c in candidates]}: pass --peers-dir")


def _peer_env(celery_venv: Path) -> dict[str, str]:
    # The peer scripts run their queue declaration with $VENV/bin/python (aio-pika).
    return {**os.environ, "VENV": str(celery_venv)}


def start_rabbitmq(peers: Path, celery_venv: Path, log: Path) -> list[int]:
    """A fresh cluster (an old one of the same layout is stopped and wiped first); the pids of
    its three Erlang VMs."""
    with log.open("a") as out:
        env = _peer_env(celery_venv)
        stop = [str(peers / "stop-rabbitmq.sh"), "--wipe"]
        subprocess.run(stop, env=env, stdout=out, stderr=out, check=False)
        subprocess.run(
            [peers / "start-rabbitmq.sh"], env=env, stdout=out, stderr=out, check=True, timeout=600
        )
    return [int((RABBIT_PIDS / f"rabbit{i}.beam.pid").read_text().split()[0]) for i in (1, 2, 3)]


def stop_rabbitmq(peers: Path, celery_venv: Path, log: Path) -> None:
    with log.open("a") as out:
        subprocess.run(
            [peers / "stop-rabbitmq.sh", "--wipe"],
            env=_peer_env(celery_venv),
            stdout=out,
            stderr=out,
            timeout=300,
            check=False,
        )


@contextlib.contextmanager
def celery_worker(
    celery_venv: Path, prefetch: int, concurrency: int, record_dir: Path, log: Path
) -> Iterator[int]:
    """A prefork worker with `concurrency` children, for the duration of the block; its pid.
    Stopped with SIGTERM (warm shutdown), SIGKILL after 30 s; then each pool child seen at the
    start is waited for and, if still alive, killed by its pid."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TASKBENCH_PREFETCH": str(prefetch),
        "TASKBENCH_RECORD_DIR": str(record_dir),
    }
    command = [
        str(celery_venv / "bin" / "celery"), "-A", "bench.tasks_celery_app", "worker",
        "-P", "prefork", "--concurrency", str(concurrency),
        "-n", f"taskbench-m{prefetch}@localhost",
        "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("ab") as out:
        worker = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True
        )
    children: list[int] = []
    try:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while b" ready." not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not get ready; see {log}")
            time.sleep(0.2)
        children = tree(worker.pid)[1:]
        yield worker.pid
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=STOP_TIMEOUT_S)
        for child in children:
            for _ in range(50):
                if not Path(f"/proc/{child}").exists():
                    break
                time.sleep(0.1)
            with contextlib.suppress(OSError):
                if b"celery" in Path(f"/proc/{child}/cmdline").read_bytes():
                    os.kill(child, signal.SIGKILL)


def measured_run(
    celery_venv: Path,
    *,
    mode: str,
    tasks: int,
    submitters: int,
    rate: float,
    worker_pid: int,
    broker_pids: list[int],
    label: str,
    prefetch: int,
    record_dir: Path,
    out: Path,
    log: Path,
) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TASKBENCH_PREFETCH": str(prefetch),
        "TASKBENCH_RECORD_DIR": str(record_dir),
    }
    command = [
        str(celery_venv / "bin" / "python"), "-m", "bench.tasks_celery_run", "--mode", mode,
        "--tasks", str(tasks), "--submitters", str(submitters), "--rate", str(rate),
        "--worker-pid", str(worker_pid),
        "--broker-pids", ",".join(map(str, broker_pids)), "--label", label, "--out", str(out),
    ]  # fmt: skip
    with log.open("ab") as err:
        subprocess.run(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, check=True
        )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_celery(
    *,
    peers: Path,
    celery_venv: Path,
    prefetches: list[int],
    tasks: int,
    paced_tasks: int,
    rate: float,
    submitters: int,
    concurrency: int,
    out_dir: Path,
) -> list[dict[str, Any]]:
    """For each prefetch multiplier: a worker, a throughput run, a paced run (the paced run only
    for the first multiplier: at 100 tasks/s the prefetch does not matter)."""
    log = out_dir / "celery.log"
    record_dir = out_dir / "records"
    record_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    broker_pids = start_rabbitmq(peers, celery_venv, log)
    try:
        for index, prefetch in enumerate(prefetches):
            label = f"prefetch multiplier {prefetch}"
            worker_log = out_dir / f"celery-worker-m{prefetch}.log"
            with celery_worker(celery_venv, prefetch, concurrency, record_dir, worker_log) as pid:
                modes = [("throughput", tasks)] + ([("paced", paced_tasks)] if index == 0 else [])
                for mode, count in modes:
                    results.append(
                        measured_run(
                            celery_venv,
                            mode=mode,
                            tasks=count,
                            submitters=submitters,
                            rate=rate,
                            worker_pid=pid,
                            broker_pids=broker_pids,
                            label=label,
                            prefetch=prefetch,
                            record_dir=record_dir,
                            out=out_dir / f"celery-{mode}-m{prefetch}.json",
                            log=log,
                        )
                    )
    finally:
        stop_rabbitmq(peers, celery_venv, log)
    return results

"""`raftq worker MODULE:REGISTRY --queue Q`: run a registry's handlers on a queue's tasks.

Credentials come from the environment like the data commands' (`RAFTQ_ENDPOINT`,
`RAFTQ_ACCESS_KEY_ID`, `RAFTQ_SECRET_ACCESS_KEY`). SIGTERM or SIGINT stops gracefully (no new
leases, `--grace-s` for running tasks); a second one stops at once, handing back every lease.
Exit codes: 0 stopped, 1 refused (a bad MODULE:REGISTRY, options or environment).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from typing import Final

from raftq.common import log_setup, tracing
from raftq.worker.registry import Registry
from raftq.worker.stats import default_worker_id

EXIT_REFUSED: Final = 1


def add_worker_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser("worker", help="run task handlers on a queue's tasks")
    worker.add_argument("registry", metavar="MODULE:REGISTRY", help="e.g. myapp.tasks:tasks")
    worker.add_argument("--queue", required=True, help="the queue whose tasks it runs")
    worker.add_argument("--concurrency", type=int, default=4, help="most tasks at once")
    worker.add_argument("--min-concurrency", type=int, default=1, help="fewest slots kept")
    worker.add_argument("--lease-s", type=float, default=30.0, help="lease of each task")
    worker.add_argument("--grace-s", type=float, default=30.0, help="for running tasks at stop")
    worker.add_argument("--poll-wait-s", type=int, default=10, help="long poll when idle")
    worker.add_argument("--worker-id", default=None, help="default: host-pid-random")
    log_setup.add_log_options(worker)


def load_registry(reference: str) -> Registry:
    """`package.module:name` -> the Registry it names; ValueError says what is wrong."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected MODULE:REGISTRY, not {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r}: {error}") from error
    registry = getattr(module, attribute, None)
    if not isinstance(registry, Registry):
        raise ValueError(f"{reference!r} is not a raftq.worker.Registry")
    return registry


def run_worker_command(args: argparse.Namespace) -> int:
    args.worker_id = args.worker_id or default_worker_id()  # the same id in logs and leases
    try:
        logging_settings = log_setup.settings_from_args(args)
        log_setup.configure(logging_settings, process="worker", node=args.worker_id)
    except ValueError as error:
        print(f"raftq worker: {error}", file=sys.stderr)
        return EXIT_REFUSED
    if "" not in sys.path:  # `raftq worker app.tasks:tasks` finds app/ in the current directory
        sys.path.insert(0, "")
    try:
        registry = load_registry(args.registry)
        tracing.configure("raftq-worker")  # off unless OTEL_* variables ask (docs/tracing.md)
        return asyncio.run(_work(registry, args))
    except ValueError as error:
        print(f"raftq worker: {error}", file=sys.stderr)
        return EXIT_REFUSED


async def _work(registry: Registry, args: argparse.Namespace) -> int:
    from raftq.client.sdk import AsyncClient  # noqa: PLC0415  (the SDK loads only to run)
    from raftq.worker.worker import Worker  # noqa: PLC0415

    client = AsyncClient.from_env()
    worker = Worker(
        client,
        registry,
        queue=args.queue,
        worker_id=args.worker_id,
        concurrency=args.concurrency,
        min_concurrency=args.min_concurrency,
        lease_s=args.lease_s,
        grace_s=args.grace_s,
        poll_wait_s=args.poll_wait_s,
    )
    worker.install_signal_handlers()
    try:
        await worker.run()
    finally:
        await client.close()
    return 0

"""A mass transition on a three-node backend cluster: 10^6 messages due at once, no election.

Starts three `raftq backend` processes on loopback (the harness of tests/integration, fsync
on), loads N messages into one queue, 100 per send command with many commands in flight, and
then makes them all due at the same moment:

- `deliver-at`: every message is sent with the same deliver-at, far enough ahead that loading
  ends before it (the loading rate is measured first, on a queue of its own); at that moment
  all N become visible;
- `retention`: the queue keeps messages 4 days while loading; once the newest is over a minute
  old, its retention is cut to 60 s (the minimum), and all N expire at once.

During the transition it reads every node's /v1/status every ~100 ms (bench/raft_watch.py) and
the queue's counts through the log every 0.5 s, and reports: how long until the counts showed
every message transitioned, how many Raft entries that took, the term and leader changes seen
by any node (an election shows as both), and the longest time a node went without answering.

`--unbudgeted` runs the nodes with `--due-transitions-per-entry 1000000`: one entry then makes
the whole transition, on pysyncobj's thread, which also sends heartbeats. It shows what the
per-entry budget (limits.DUE_TRANSITIONS_PER_ENTRY, backend/work_budget.py) prevents.

Run: python -m bench.mass_transition_bench [--messages 1000000] [--scenario deliver-at]
     [--unbudgeted]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.machine_info import describe
from bench.raft_watch import SAMPLE_EVERY_S, RaftWatch
from raftq.common import limits
from raftq.common.backend_client import BackendClient
from raftq.common.commands import (
    CreateQueue,
    GetQueueStats,
    SendEntry,
    SendMessages,
    SetQueueAttributes,
)
from raftq.common.errors import RaftqError
from raftq.common.queue_attributes import QueueAttributeChanges
from raftq.common.results import QueueStats
from tests.integration.cluster import Cluster

QUEUE = "mass"
CALIBRATION_QUEUE = "calibration"
CALIBRATION_MESSAGES = 20_000
STATS_EVERY_S = 0.5
# After the transition the watch goes on this long, so an election it set off is seen.
AFTERMATH_S = 5.0


@dataclass(frozen=True)
class Loaded:
    messages: int  # as the queue counts them once loading ended
    seconds: float
    failed_commands: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def load(
    client: BackendClient,
    queue: str,
    messages: int,
    args: argparse.Namespace,
    deliver_at_ms: int | None = None,
) -> tuple[float, int]:
    """Send `messages` to `queue`, `args.per_command` per command, `args.concurrency` commands
    in flight. Returns the seconds it took and how many commands failed (not retried: a retry
    without a dedup id could store its messages twice; the queue's counts say what arrived)."""
    body = b"m" * args.body_bytes
    full = tuple(
        SendEntry(entry_id=str(i), body=body, deliver_at_ms=deliver_at_ms)
        for i in range(args.per_command)
    )
    sizes = [args.per_command] * (messages // args.per_command)
    if messages % args.per_command:
        sizes.append(messages % args.per_command)
    work = iter(sizes)
    failed = 0

    async def sender() -> None:
        nonlocal failed
        for size in work:
            command = SendMessages(now_ms=0, queue=queue, entries=full[:size])
            try:
                await client.execute(command)
            except RaftqError:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    return time.monotonic() - started, failed


async def stats(client: BackendClient, queue: str) -> QueueStats | None:
    try:
        result = await client.execute(GetQueueStats(now_ms=0, queue=queue))
    except RaftqError:
        return None
    return result if isinstance(result, QueueStats) else None


async def settled_stats(client: BackendClient, queue: str) -> QueueStats:
    for _ in range(100):
        counts = await stats(client, queue)
        if counts is not None:
            return counts
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no counts of {queue} from the cluster")


async def deliver_at_moment(client: BackendClient, args: argparse.Namespace) -> int:
    """When every message should become visible: after loading them all, with a margin."""
    if args.deliver_after_s is not None:
        return now_ms() + int(args.deliver_after_s * 1000)
    await client.execute(CreateQueue(now_ms=0, queue=CALIBRATION_QUEUE))
    seconds, _ = await load(client, CALIBRATION_QUEUE, CALIBRATION_MESSAGES, args)
    rate = CALIBRATION_MESSAGES / seconds
    ahead_s = args.messages / rate * 2 + 30  # loading slows as the store grows
    print(f"calibration: {rate:.0f} messages/s; deliver-at {ahead_s:.0f} s ahead", flush=True)
    return now_ms() + int(ahead_s * 1000)


def transitioned(counts: QueueStats, scenario: str, loaded: int) -> bool:
    if scenario == "deliver-at":
        return counts.visible == loaded
    return counts.visible + counts.delayed + counts.in_flight == 0


async def wait_for_transition(
    client: BackendClient, scenario: str, loaded: int, timeout_s: float
) -> tuple[float, int]:
    """Poll the counts until every message transitioned: (time.monotonic() then, reads)."""
    deadline = time.monotonic() + timeout_s
    reads = 0
    last_print = time.monotonic()
    while time.monotonic() < deadline:
        reads += 1
        counts = await stats(client, QUEUE)
        if counts is not None and transitioned(counts, scenario, loaded):
            return time.monotonic(), reads
        if counts is not None and time.monotonic() - last_print >= 5:
            last_print = time.monotonic()
            print(f"  counts: {counts.model_dump(exclude={'kind'})}", flush=True)
        await asyncio.sleep(STATS_EVERY_S)
    raise RuntimeError(f"the transition did not complete within {timeout_s} s")


async def run(args: argparse.Namespace, root: Path) -> bool:
    budget = limits.EXPIRE_TRANSITIONS_MAX if args.unbudgeted else limits.DUE_TRANSITIONS_PER_ENTRY
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.concurrency + 16)
    ) as session:
        cluster = Cluster(root, session, extra_args=("--due-transitions-per-entry", str(budget)))
        cluster.start_all()
        watch = RaftWatch(cluster)
        try:
            await cluster.leader(timeout_s=30)
            client = cluster.new_client(timeout_s=30)
            await client.execute(CreateQueue(now_ms=0, queue=QUEUE))
            watch.start()
            mode = "unbudgeted" if args.unbudgeted else "budgeted"
            print(
                f"scenario {args.scenario}, {mode}: --due-transitions-per-entry {budget}; "
                f"{args.messages} messages of {args.body_bytes} B",
                flush=True,
            )
            deliver_at_ms = None
            if args.scenario == "deliver-at":
                deliver_at_ms = await deliver_at_moment(client, args)
            load_start = time.monotonic()
            seconds, failed = await load(client, QUEUE, args.messages, args, deliver_at_ms)
            counts = await settled_stats(client, QUEUE)
            loaded = Loaded(counts.delayed + counts.visible, seconds, failed)
            during_load = watch.report(load_start, time.monotonic())
            print(
                f"loaded {loaded.messages} in {loaded.seconds:.1f} s ({loaded.rate:.0f} "
                f"messages/s, {failed} commands failed); during loading: {during_load.line()}",
                flush=True,
            )
            start = await make_due(client, args.scenario, deliver_at_ms)
            if start is None:
                print("INVALID: loading ended after the deliver-at; rerun with --deliver-after-s")
                return False
            done, reads = await wait_for_transition(
                client, args.scenario, loaded.messages, args.timeout_s
            )
            await asyncio.sleep(AFTERMATH_S)
            during = watch.report(start, time.monotonic())
            # Up to the first status samples after the counts showed it done.
            entries = watch.report(start, done + 2 * SAMPLE_EVERY_S).entries_applied
            print(
                f"transition: {loaded.messages} messages "
                f"{'visible' if args.scenario == 'deliver-at' else 'expired'} "
                f"{done - start:.1f} s after they fell due; {entries} Raft entries applied "
                f"meanwhile ({reads} of them at most were this bench's reads of the counts)"
            )
            print(f"during the transition (and {AFTERMATH_S:.0f} s after): {during.line()}")
            print(
                f"RESULT | {args.scenario} | {mode} ({budget}/entry) | {loaded.messages} | "
                f"{loaded.seconds:.0f} s | {done - start:.1f} s | {entries} | "
                f"{during.term_changes} | {during.leader_changes} | {during.longest_gap_s:.2f} s"
            )
            return True
        finally:
            await watch.stop()
            cluster.close()


async def make_due(client: BackendClient, scenario: str, deliver_at_ms: int | None) -> float | None:
    """Wait for, or cause, the moment every message falls due: its time.monotonic(); None if
    it passed before loading ended."""
    if deliver_at_ms is not None:
        ahead_s = (deliver_at_ms - now_ms()) / 1000
        if ahead_s < 1:
            return None
        await asyncio.sleep(ahead_s)
        return time.monotonic()
    # Retention: the newest message must be past the new retention when it is cut.
    await asyncio.sleep(limits.RETENTION_MIN_MS / 1000 + 2)
    changes = QueueAttributeChanges(retention_ms=limits.RETENTION_MIN_MS)
    start = time.monotonic()
    await client.execute(SetQueueAttributes(now_ms=0, queue=QUEUE, changes=changes))
    return start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--scenario", choices=("deliver-at", "retention"), default="deliver-at")
    parser.add_argument(
        "--unbudgeted",
        action="store_true",
        help=f"run the nodes with --due-transitions-per-entry {limits.EXPIRE_TRANSITIONS_MAX}",
    )
    parser.add_argument("--body-bytes", type=int, default=32)
    parser.add_argument("--per-command", type=int, default=limits.BATCH_ENTRIES_MAX)
    parser.add_argument("--concurrency", type=int, default=32, help="commands in flight")
    parser.add_argument(
        "--deliver-after-s", type=float, help="deliver-at this far ahead (default: measured)"
    )
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    parser.add_argument("--scratch", type=Path, help="directory for the nodes' data")
    args = parser.parse_args()
    print(describe())
    print(
        "three raftq backend processes on loopback, fsync on; "
        f"{args.per_command} messages per send command, {args.concurrency} commands in flight"
    )
    with tempfile.TemporaryDirectory(prefix="raftq-mass-", dir=args.scratch) as scratch:
        ok = asyncio.run(run(args, Path(scratch)))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Apply throughput and receive latency of one backend queue state machine on RocksDB.

What is timed is `QueueStateMachine.apply(index, payload)` on encoded command batches (decode,
apply, one WriteBatch): the part of a replica's work that is not Raft. Payloads are encoded
before the clock starts. The store runs with `sync_writes=False`, as a replica does (its Raft
log is what is fsynced), so the Raft log's fsync is not in these figures; one line with
`sync_writes=True` shows what a synced WriteBatch per entry costs on this disk.

Command time is fixed (`now_ms` does not move), so no timer comes due during a run: visibility
timeouts, delays and retention cost only their (empty) due-scans.

1. Throughput at 100 B bodies: send as group commit (100 single-message SendMessages per
   entry), send as 10-entry batches (10 SendMessages of 10 entries per entry), receive (10
   ReceiveMessages of max 10 per entry) and delete (10 DeleteMessages of 10 handles per entry).
2. Receive latency with `--small` and `--large` messages stored: one ReceiveMessages of max 10
   per entry, then the DeleteMessages of its 10 handles, then a send of 10 that keeps the depth.
   Target (the issue): p50 and p99 at 10^6 stored within 2x of those at 10^3.
3. Receive latency at 10^3 stored as the count of messages consumed so far grows: consumed
   messages leave deleted keys in RocksDB that scans step over until compaction drops them.

Run: python -m bench.state_machine_bench            (full: a few minutes)
     python -m bench.state_machine_bench --quick    (10^5 instead of 10^6 stored, etc.)
     python -m bench.state_machine_bench --quick --profile   (cProfile of the throughput phases)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.machine_info import describe
from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_machine import QueueStateMachine
from raftq.common import codec
from raftq.common.commands import (
    AnyCommand,
    CommandBatch,
    CreateQueue,
    DeleteEntry,
    DeleteMessages,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.results import CommandResult, Failure, ReceiveResult
from raftq.common.settings import StoreSettings

NOW_MS = 1_700_000_000_000
QUEUE = "bench"
TARGET_RATIO = 2.0


def encode(commands: Sequence[AnyCommand]) -> bytes:
    return codec.encode_batch(CommandBatch(commands=tuple(commands)))


def send_payload(commands: int, entries_per_command: int, body: bytes) -> bytes:
    return encode(
        [
            SendMessages(
                now_ms=NOW_MS,
                queue=QUEUE,
                entries=tuple(
                    SendEntry(entry_id=f"e{i}", body=body) for i in range(entries_per_command)
                ),
            )
            for _ in range(commands)
        ]
    )


def receive_payload(commands: int, max_messages: int) -> bytes:
    return encode(
        [
            ReceiveMessages(now_ms=NOW_MS, queue=QUEUE, max_messages=max_messages)
            for _ in range(commands)
        ]
    )


def delete_payload(handle_groups: Sequence[Sequence[str]]) -> bytes:
    return encode(
        [
            DeleteMessages(
                now_ms=NOW_MS,
                queue=QUEUE,
                entries=tuple(
                    DeleteEntry(entry_id=f"d{i}", receipt_handle=handle)
                    for i, handle in enumerate(handles)
                ),
            )
            for handles in handle_groups
        ]
    )


def handles_of(results: Sequence[CommandResult]) -> list[list[str]]:
    groups = []
    for result in results:
        assert isinstance(result, ReceiveResult), result
        groups.append([message.receipt_handle for message in result.messages])
    return groups


class Replica:
    """One state machine on a RocksStore in `directory`, applying at increasing indexes."""

    def __init__(self, directory: Path, *, sync_writes: bool = False) -> None:
        self.store = RocksStore(StoreSettings(path=directory / "state", sync_writes=sync_writes))
        self.machine = QueueStateMachine(self.store)
        self.apply(encode([CreateQueue(now_ms=NOW_MS, queue=QUEUE)]))

    def apply(self, payload: bytes) -> list[CommandResult]:
        results = self.machine.apply(self.machine.applied_index + 1, payload)
        assert results is not None
        for result in results:
            assert not isinstance(result, Failure), result
        return results

    def timed_apply(self, payload: bytes) -> tuple[list[CommandResult], float]:
        started = time.perf_counter()
        results = self.apply(payload)
        return results, time.perf_counter() - started

    def close(self) -> None:
        self.store.close()


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rate_line(label: str, entries: int, messages: int, seconds: float) -> str:
    return (
        f"  {label:<50} {messages / seconds:>9,.0f} msg/s {entries / seconds:>8,.0f} entries/s"
        f"  ({seconds * 1e6 / messages:.1f} us/msg)"
    )


def profiled(enabled: bool, label: str, run: Callable[[], float]) -> float:
    if not enabled:
        return run()
    profile = cProfile.Profile()
    seconds = profile.runcall(run)
    print(f"\n--- profile: {label} (top by cumulative time) ---")
    pstats.Stats(profile).strip_dirs().sort_stats("cumulative").print_stats(25)
    print(f"--- profile: {label} (top by own time) ---")
    pstats.Stats(profile).strip_dirs().sort_stats("tottime").print_stats(15)
    return seconds


def throughput(messages: int, body: bytes, profile: bool) -> None:
    print(f"1. apply throughput, {len(body)} B bodies, {messages:,} messages per phase")
    with tempfile.TemporaryDirectory(prefix="raftq-smbench-") as directory:
        replica = Replica(Path(directory))
        try:
            group_commit = send_payload(100, 1, body)
            batched = send_payload(10, 10, body)
            entries = messages // 100

            def apply_all(payload: bytes) -> float:
                started = time.perf_counter()
                for _ in range(entries):
                    replica.apply(payload)
                return time.perf_counter() - started

            seconds = profiled(profile, "send group commit", lambda: apply_all(group_commit))
            print(
                rate_line("send, 100 x 1-message SendMessages / entry", entries, messages, seconds)
            )
            seconds = profiled(profile, "send batches", lambda: apply_all(batched))
            print(rate_line("send, 10 x 10-entry SendMessages / entry", entries, messages, seconds))

            receives = receive_payload(10, 10)
            handle_groups: list[list[str]] = []

            def receive_all() -> float:
                started = time.perf_counter()
                for _ in range(entries):
                    handle_groups.extend(handles_of(replica.apply(receives)))
                return time.perf_counter() - started

            seconds = profiled(profile, "receive", receive_all)
            received = sum(len(group) for group in handle_groups)
            assert received == messages, received
            print(
                rate_line(
                    "receive, 10 x ReceiveMessages(max 10) / entry", entries, received, seconds
                )
            )

            deletes = [
                delete_payload(handle_groups[i : i + 10]) for i in range(0, entries * 10, 10)
            ]

            def delete_all() -> float:
                started = time.perf_counter()
                for payload in deletes:
                    replica.apply(payload)
                return time.perf_counter() - started

            seconds = profiled(profile, "delete", delete_all)
            print(
                rate_line(
                    "delete, 10 x DeleteMessages(10 handles) / entry", entries, received, seconds
                )
            )
        finally:
            replica.close()


def synced_send(entries: int, body: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="raftq-smbench-") as directory:
        replica = Replica(Path(directory), sync_writes=True)
        try:
            payload = send_payload(100, 1, body)
            started = time.perf_counter()
            for _ in range(entries):
                replica.apply(payload)
            seconds = time.perf_counter() - started
            print(
                rate_line("send group commit, sync_writes=True", entries, entries * 100, seconds)
                + f", {seconds * 1e3 / entries:.2f} ms/entry"
            )
        finally:
            replica.close()


def fill(replica: Replica, stored: int, body: bytes) -> None:
    per_entry = 1_000  # 10 SendMessages of 100 entries: large batches, as a bulk producer sends
    full = send_payload(10, 100, body)
    started = time.perf_counter()
    remaining = stored
    while remaining >= per_entry:
        replica.apply(full)
        remaining -= per_entry
    if remaining >= 100:
        replica.apply(send_payload(remaining // 100, 100, body))
    if remaining % 100:
        replica.apply(send_payload(1, remaining % 100, body))
    seconds = time.perf_counter() - started
    print(f"  fill {stored:>10,} messages: {seconds:6.1f} s, {stored / seconds:>9,.0f} msg/s")


class Cycles:
    """Receive 10, delete them, send 10 (so the depth stays put), one command per entry;
    the receive and delete applies are timed."""

    def __init__(self, replica: Replica, body: bytes) -> None:
        self.replica = replica
        self.receive = receive_payload(1, 10)
        self.refill = send_payload(1, 10, body)

    def run(self, cycles: int) -> tuple[list[float], list[float]]:
        receive_s: list[float] = []
        delete_s: list[float] = []
        for _ in range(cycles):
            results, received_in = self.replica.timed_apply(self.receive)
            (handles,) = handles_of(results)
            assert len(handles) == 10, len(handles)
            _, deleted_in = self.replica.timed_apply(delete_payload([handles]))
            self.replica.apply(self.refill)
            receive_s.append(received_in)
            delete_s.append(deleted_in)
        return receive_s, delete_s


def receive_latency(stored: int, cycles: int, warmup: int, body: bytes) -> dict[str, float]:
    """p50/p99 seconds of a receive-of-10 apply and of the delete of its handles, with the
    queue holding `stored` messages."""
    assert stored % 10 == 0 and stored >= 10
    with tempfile.TemporaryDirectory(prefix="raftq-smbench-") as directory:
        replica = Replica(Path(directory))
        try:
            fill(replica, stored, body)
            loop = Cycles(replica, body)
            loop.run(warmup)
            receive_s, delete_s = loop.run(cycles)
        finally:
            replica.close()
    figures = {
        "receive_p50": percentile(receive_s, 0.50),
        "receive_p99": percentile(receive_s, 0.99),
        "delete_p50": percentile(delete_s, 0.50),
        "delete_p99": percentile(delete_s, 0.99),
    }
    print(
        f"  {stored:>10,} stored: receive(10) p50 {figures['receive_p50'] * 1e3:.3f} ms"
        f" p99 {figures['receive_p99'] * 1e3:.3f} ms; delete(10) p50"
        f" {figures['delete_p50'] * 1e3:.3f} ms p99 {figures['delete_p99'] * 1e3:.3f} ms"
        f" ({cycles} cycles after {warmup} warm-up)"
    )
    return figures


def latency_history(stored: int, cycles: int, windows: int, body: bytes) -> None:
    """Receive latency as the count of messages consumed so far grows, at a constant depth: a
    consumed message leaves deleted keys behind in RocksDB until compaction drops them."""
    print(
        f"3. receive latency vs messages consumed so far, {stored:,} stored, "
        f"{cycles * 10:,} consumed in {windows} windows"
    )
    with tempfile.TemporaryDirectory(prefix="raftq-smbench-") as directory:
        replica = Replica(Path(directory))
        try:
            fill(replica, stored, body)
            loop = Cycles(replica, body)
            per_window = cycles // windows
            for window in range(windows):
                receive_s, delete_s = loop.run(per_window)
                first, last = window * per_window * 10, (window + 1) * per_window * 10
                print(
                    f"  consumed {first:>9,} to {last:>9,}:"
                    f" receive(10) p50 {percentile(receive_s, 0.5) * 1e3:7.3f} ms"
                    f" p99 {percentile(receive_s, 0.99) * 1e3:7.3f} ms;"
                    f" delete(10) p50 {percentile(delete_s, 0.5) * 1e3:6.3f} ms"
                )
        finally:
            replica.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a run of seconds")
    parser.add_argument("--messages", type=int, help="messages per throughput phase")
    parser.add_argument("--small", type=int, help="stored messages, small queue")
    parser.add_argument("--large", type=int, help="stored messages, large queue")
    parser.add_argument("--cycles", type=int, help="receive/delete samples per queue size")
    parser.add_argument("--body-bytes", type=int, default=100)
    parser.add_argument("--sync-entries", type=int, help="entries of the sync_writes=True line")
    parser.add_argument("--history-cycles", type=int, help="cycles of section 3 (0: skip it)")
    parser.add_argument("--skip-latency", action="store_true", help="skip sections 2 and 3")
    parser.add_argument("--profile", action="store_true", help="cProfile the throughput phases")
    args = parser.parse_args()
    quick = args.quick
    messages = args.messages or (5_000 if quick else 100_000)
    small = args.small or 1_000
    large = args.large or (100_000 if quick else 1_000_000)
    cycles = args.cycles or (300 if quick else 2_000)
    history = (
        args.history_cycles if args.history_cycles is not None else (2_000 if quick else 10_000)
    )
    sync_entries = args.sync_entries if args.sync_entries is not None else (50 if quick else 300)
    body = b"x" * args.body_bytes
    if messages % 100:
        parser.error("--messages must be a multiple of 100")

    print(describe())
    print(
        "state machine apply on RocksStore(sync_writes=False): decode + apply + one WriteBatch per"
        " entry; Raft-log fsync and replication are NOT included; encode is outside the clock"
    )
    started = time.perf_counter()
    throughput(messages, body, args.profile)
    if sync_entries:
        synced_send(sync_entries, body)
    if not args.skip_latency:
        print(f"2. receive latency vs queue depth, {len(body)} B bodies, 1 command per entry")
        at_small = receive_latency(small, cycles, cycles // 10, body)
        at_large = receive_latency(large, cycles, cycles // 10, body)
        for name in ("receive_p50", "receive_p99", "delete_p50", "delete_p99"):
            ratio = at_large[name] / at_small[name]
            verdict = "(no target)"
            if name.startswith("receive"):
                verdict = f"(target <= {TARGET_RATIO:.0f}x) " + (
                    "PASS" if ratio <= TARGET_RATIO else "MISS"
                )
            print(f"  {name} at {large:,} / at {small:,}: {ratio:.2f}x {verdict}")
        if history:
            latency_history(small, history, 10, body)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

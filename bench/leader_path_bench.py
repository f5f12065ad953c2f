"""The leader's CPU per command between the channel and Raft: before and after splicing.

old  decode the NodeRequest (pydantic) + model_copy to stamp now_ms + encode the v1 CommandBatch
new  channel_request.decode (msgpack, peek kind and queue) + codec.encode_entry (v2, bytes copied)

Each round serves `per_entry` requests that one group-committed entry carries, each a send of
`entries` messages of 100 B (frontend-encoded ciphertext stand-ins); the figure is per command.
Apply, which validates each command on every replica in both formats, is outside the clock and
measured separately (decode of the entry as apply does it).

Run: python -m bench.leader_path_bench
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial

from bench.machine_info import describe
from raftq.common import channel_request, codec
from raftq.common.channel_request import ChannelRequest
from raftq.common.commands import CommandBatch, SendEntry, SendMessages
from raftq.common.node_api import NodeRequest

NOW_MS = 1_700_000_000_000


def _send(number: int, entries: int) -> SendMessages:
    return SendMessages(
        now_ms=0,
        queue="orders",
        entries=tuple(
            SendEntry(
                entry_id=f"e{i}",
                body=os.urandom(100),
                attributes=os.urandom(32),
                dedup_id=f"dedup-{number}-{i}",
            )
            for i in range(entries)
        ),
    )


def old_leader(payloads: list[bytes]) -> bytes:
    calls = [codec.decode(payload, NodeRequest) for payload in payloads]
    stamped = tuple(call.command.model_copy(update={"now_ms": NOW_MS}) for call in calls)
    return codec.encode_batch(CommandBatch(commands=stamped))


def new_leader(payloads: list[bytes]) -> bytes:
    commands: list[bytes] = []
    for payload in payloads:
        call = channel_request.decode(payload)
        assert isinstance(call, ChannelRequest)
        commands.append(call.command.raw)
    return codec.encode_entry(NOW_MS, commands)


def _seconds(work: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five: the machine is shared
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best


def main() -> None:
    print(describe())
    print("per command, microseconds, best of 5; 100 B bodies; leader: channel payload -> entry")
    for entries in (1, 16):
        for per_entry in (1, 16):
            sends = [_send(n, entries) for n in range(per_entry)]
            old_payloads = [codec.encode(NodeRequest(command=send)) for send in sends]
            new_payloads = [channel_request.encode(send) for send in sends]
            old_entry, new_entry = old_leader(old_payloads), new_leader(new_payloads)
            rounds = max(20, 4_000 // per_entry)
            timings = [
                _seconds(partial(old_leader, old_payloads), rounds),
                _seconds(partial(new_leader, new_payloads), rounds),
                _seconds(partial(codec.decode_entry, old_entry), rounds),
                _seconds(partial(codec.decode_entry, new_entry), rounds),
            ]
            old_us, new_us, apply_v1, apply_v2 = (t / per_entry * 1e6 for t in timings)
            print(
                f"  send of {entries:>2} msg, {per_entry:>2} commands/entry:"
                f" leader old {old_us:6.1f} new {new_us:5.1f} ({old_us / new_us:3.1f}x);"
                f" apply's decode v1 {apply_v1:6.1f} v2 {apply_v2:6.1f};"
                f" entry {len(old_entry)} B v1, {len(new_entry)} B v2"
            )


if __name__ == "__main__":
    main()

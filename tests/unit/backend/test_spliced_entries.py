"""The queue state machine applying v2 entries (commands spliced in as encoded bytes): the same
results and state as v1 entries of the same commands, the digest chained over the payload and
the changes as for v1, a command that does not decode failing alone, and v1 logs replaying to
the state they had before v2 existed."""

from __future__ import annotations

import hashlib

import msgpack

from raftq.backend import keys
from raftq.backend.state_machine import GENESIS_DIGEST, QueueStateMachine
from raftq.backend.store import MemoryStore
from raftq.common import codec
from raftq.common.commands import (
    AnyCommand,
    ChangeVisibility,
    CommandBatch,
    CreateQueue,
    DeleteEntry,
    DeleteMessages,
    GetQueueStats,
    ReceiveMessages,
    SendEntry,
    SendMessages,
    VisibilityEntry,
)
from raftq.common.results import Failure, ReceiveResult, SendResult
from tests.replica import START_MS, Replica


def _workload(replica: Replica, *, spliced: bool) -> list[object]:
    """A small life of two queues, every entry in the given format; returns every result."""
    results: list[object] = []

    def run(*commands: AnyCommand) -> list[object]:
        answered = replica.run(*commands, spliced=spliced)
        results.extend(answered)
        return list(answered)

    now = replica.now_ms
    run(CreateQueue(now_ms=now, queue="a"), CreateQueue(now_ms=now, queue="b.fifo", fifo=True))
    run(
        SendMessages(
            now_ms=now,
            queue="a",
            entries=tuple(SendEntry(entry_id=f"e{i}", body=b"m%d" % i) for i in range(3)),
        ),
        SendMessages(
            now_ms=now,
            queue="b.fifo",
            entries=(SendEntry(entry_id="f", body=b"fifo", group_id="g", dedup_id="d"),),
        ),
        SendMessages(
            now_ms=now,
            queue="b.fifo",
            entries=(SendEntry(entry_id="f", body=b"again", group_id="g", dedup_id="d"),),
        ),
    )
    replica.advance(10)
    (received,) = run(ReceiveMessages(now_ms=replica.now_ms, queue="a", max_messages=2))
    assert isinstance(received, ReceiveResult)
    handles = [message.receipt_handle for message in received.messages]
    replica.advance(10)
    now = replica.now_ms
    run(
        DeleteMessages(
            now_ms=now, queue="a", entries=(DeleteEntry(entry_id="d", receipt_handle=handles[0]),)
        ),
        ChangeVisibility(
            now_ms=now,
            queue="a",
            entries=(
                VisibilityEntry(entry_id="v", receipt_handle=handles[1], visibility_timeout_ms=0),
            ),
        ),
        GetQueueStats(now_ms=now, queue="a"),
        GetQueueStats(now_ms=now, queue="missing"),
    )
    return results


def test_v2_entries_give_the_results_and_state_of_v1_entries() -> None:
    # Given two replicas, one applying v1 entries, the other the same commands as v2 entries
    v1, v2 = Replica(), Replica()
    # When both run the same workload
    results_v1 = _workload(v1, spliced=False)
    results_v2 = _workload(v2, spliced=True)
    # Then every result is the same, and so is the stored state but for the digest (the
    # payloads differ)
    assert results_v2 == results_v1
    assert any(isinstance(result, Failure) for result in results_v1)  # the missing queue
    assert isinstance(v2.store, MemoryStore) and isinstance(v1.store, MemoryStore)
    assert _without_digest(v2.store) == _without_digest(v1.store)
    assert v2.machine.clock_ms == v1.machine.clock_ms
    assert v2.machine.digest != v1.machine.digest


def _without_digest(store: MemoryStore) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, value in store.items() if key != keys.META_DIGEST]


def test_the_digest_chains_over_each_v2_payload_and_replicas_agree() -> None:
    # Given a replica that applied a v2 workload
    leader = Replica()
    _workload(leader, spliced=True)
    # Then its digest is not the chain of the payloads alone: it covers the changes too
    digest = GENESIS_DIGEST
    for index, payload in leader.payloads:
        digest = hashlib.sha256(digest + keys.u64(index) + payload).digest()
    assert leader.machine.digest != digest
    # And a second replica applying the same log reaches the same digest and state
    follower = Replica()
    for _, payload in leader.payloads:
        follower.apply_payload(payload)
    assert follower.machine.digest == leader.machine.digest
    assert isinstance(follower.store, MemoryStore) and isinstance(leader.store, MemoryStore)
    assert follower.store.items() == leader.store.items()


def test_a_v2_entry_replayed_at_or_below_the_applied_index_is_skipped() -> None:
    replica = Replica()
    replica.create("q")
    index, payload = replica.payloads[-1]
    digest = replica.machine.digest
    assert replica.machine.apply(index, payload) is None
    assert replica.machine.digest == digest


def test_a_command_that_does_not_decode_fails_alone_and_the_others_apply() -> None:
    # Given a queue, and an entry of a send, an undecodable command and another send
    replica = Replica()
    replica.create("q")
    send = SendMessages(now_ms=0, queue="q", entries=(SendEntry(entry_id="e", body=b"one"),))
    bad = msgpack.packb({"kind": "send", "queue": "q", "entries": []}, use_bin_type=True)
    entry = codec.encode_entry(replica.now_ms, [codec.encode(send), bad, codec.encode(send)])
    # When it is applied
    first, failed, last = replica.apply_payload(entry)
    # Then both sends stored their message, and the bad command alone failed, naming its field
    assert isinstance(first, SendResult) and isinstance(last, SendResult)
    assert first.sent[0].message_id != last.sent[0].message_id
    assert isinstance(failed, Failure)
    assert (failed.code, failed.field) == ("DecodeError", "send.entries")
    assert replica.stats("q").counts() == (2, 0, 0, 0)


def test_a_v2_entry_stamps_its_commands_with_its_time_and_time_never_goes_back() -> None:
    # Given state time at START_MS + 500
    replica = Replica()
    replica.advance(500)
    replica.create("q")
    # When a v2 entry stamped earlier arrives (a new leader with a lagging clock)
    send = SendMessages(now_ms=0, queue="q", entries=(SendEntry(entry_id="e", body=b"x"),))
    replica.apply_payload(codec.encode_entry(START_MS, [codec.encode(send)]))
    # Then state time stays where it was
    assert replica.machine.clock_ms == START_MS + 500
    # And a later stamp moves it, whatever time the command's own bytes carried
    replica.apply_payload(codec.encode_entry(START_MS + 900, [codec.encode(send)]))
    assert replica.machine.clock_ms == START_MS + 900


# --- v1 logs replay as before v2 existed ---------------------------------------------------------

# Applied index, state clock and digest of `_v1_log`. The code before v2 (commit 66a85d4) gave
# "5:1700000000003:d51a0ae4…a0f" (`PYTHONPATH=<its raftq and tests/replica.py> python -c "import
# runpy; print(runpy.run_path('tests/unit/backend/test_spliced_entries.py')['v1_log_digest']())"`);
# since the digest also covers each entry's changes (issue 17), the same command gives the value
# below: the applied index and clock are unchanged, and the digest pins what replay writes.
V1_LOG_DIGEST = "5:1700000000003:79eb2c2476e8d2d15f94bfd211bd894e044015af610601bc08590796a4330370"


def _v1_log() -> list[bytes]:
    """v1 payloads as logs written before v2 hold them, a malformed entry among them."""
    now = START_MS
    send = SendMessages(
        now_ms=now + 1,
        queue="q",
        entries=tuple(SendEntry(entry_id=f"e{i}", body=b"body %d" % i) for i in range(4)),
    )
    return [
        codec.encode_batch(CommandBatch(commands=(CreateQueue(now_ms=now, queue="q"),))),
        codec.encode_batch(CommandBatch(commands=(send, send))),
        msgpack.packb({"v": 1, "commands": [{"kind": "send", "now_ms": 1}]}, use_bin_type=True),
        codec.encode_batch(
            CommandBatch(commands=(ReceiveMessages(now_ms=now + 2, queue="q", max_messages=3),))
        ),
        codec.encode_batch(CommandBatch(commands=(GetQueueStats(now_ms=now + 3, queue="q"),))),
    ]


def v1_log_digest() -> str:
    machine = QueueStateMachine(MemoryStore())
    for index, payload in enumerate(_v1_log(), start=1):
        machine.apply(index, payload)
    return f"{machine.applied_index}:{machine.clock_ms}:{machine.digest.hex()}"


def test_a_v1_log_replays_to_the_digest_it_had_before_v2() -> None:
    assert v1_log_digest() == V1_LOG_DIGEST

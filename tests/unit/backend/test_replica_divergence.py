"""A fault on one replica is caught, never turned into a silent difference: an unexpected
exception in apply stops that replica (nothing of the entry committed), and anything one
replica's apply writes differently shows in its digest from that entry on."""

from __future__ import annotations

from typing import Any

import pytest

from raftq.backend import state_machine as state_machine_module
from raftq.backend.apply_context import ApplyContext
from raftq.common import codec
from raftq.common.commands import Command, SendEntry, SendMessages
from raftq.common.errors import ApplyFailed
from raftq.common.results import CommandResult
from tests.replica import Replica

SEND: type[Command] = SendMessages


def _send(replica: Replica, body: bytes) -> bytes:
    return codec.encode_entry(
        replica.now_ms,
        [
            codec.encode(
                SendMessages(now_ms=0, queue="q", entries=(SendEntry(entry_id="e", body=body),))
            )
        ],
    )


def _two_replicas() -> tuple[Replica, Replica]:
    first, second = Replica(), Replica()
    for replica in (first, second):
        replica.create("q")
    assert first.machine.digest == second.machine.digest
    return first, second


def test_an_unexpected_exception_in_apply_stops_the_replica_and_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two replicas that agree, and a fault injected into one replica's send handler
    healthy, faulty = _two_replicas()
    payload = _send(healthy, b"hello")
    healthy.apply_payload(payload)
    handlers = dict(state_machine_module._HANDLERS)

    def broken(ctx: ApplyContext, command: Any) -> CommandResult:
        raise MemoryError("a bit flipped")

    monkeypatch.setitem(state_machine_module._HANDLERS, SEND, broken)
    index_before = faulty.machine.applied_index
    stored_before = faulty.store.items()  # type: ignore[attr-defined]

    # When the faulty replica applies the same entry, it stops with ApplyFailed
    with pytest.raises(ApplyFailed, match="MemoryError"):
        faulty.machine.apply(index_before + 1, payload)

    # Then nothing of the entry was committed: it will apply it again, whole, once repaired
    assert faulty.machine.applied_index == index_before
    assert faulty.store.items() == stored_before  # type: ignore[attr-defined]
    monkeypatch.setattr(state_machine_module, "_HANDLERS", handlers)
    faulty.machine.apply(index_before + 1, payload)
    assert faulty.machine.digest == healthy.machine.digest


def test_a_replica_whose_apply_writes_something_else_has_another_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two replicas that agree, and one whose send handler also writes a stray key (a
    # fault that raises nothing)
    healthy, faulty = _two_replicas()
    original = state_machine_module._HANDLERS[SendMessages]

    def stray(ctx: ApplyContext, command: Any) -> CommandResult:
        ctx.txn.put(b"stray", b"!")
        return original(ctx, command)

    payload = _send(healthy, b"hello")
    results = healthy.apply_payload(payload)
    monkeypatch.setitem(state_machine_module._HANDLERS, SEND, stray)

    # When the faulty replica applies the same entry, with the same results
    assert faulty.apply_payload(payload) == results

    # Then the digests differ, and stay different after a healthy entry on both
    assert faulty.machine.digest != healthy.machine.digest
    monkeypatch.setitem(state_machine_module._HANDLERS, SEND, original)
    later = _send(healthy, b"later")
    healthy.apply_payload(later)
    faulty.apply_payload(later)
    assert faulty.machine.digest != healthy.machine.digest

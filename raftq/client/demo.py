"""`raftq demo`: a message's life through the replicated-state-machine core, on RocksDB.

This is the foundation only (no Raft, no network yet): commands are encoded, applied at
increasing log indexes, and their results printed, then the store is reopened to show that the
state (and its digest) survives a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from raftq.backend.reads import queue_stats
from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_machine import QueueStateMachine
from raftq.common import codec
from raftq.common.clock import SystemClock
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
from raftq.common.results import CommandResult, ReceiveResult
from raftq.common.settings import StoreSettings


def _apply(machine: QueueStateMachine, command: AnyCommand) -> CommandResult:
    payload = codec.encode_batch(CommandBatch(commands=(command,)))
    results = machine.apply(machine.applied_index + 1, payload)
    assert results is not None
    return results[0]


def run_demo(data_dir: Path, out: TextIO) -> None:
    clock = SystemClock()
    settings = StoreSettings(path=data_dir / "state", sync_writes=True)
    store = RocksStore(settings)
    machine = QueueStateMachine(store)
    queue = "demo"
    out.write(f"store: {settings.path} (applied index {machine.applied_index})\n")
    out.write(f"create queue: {_apply(machine, CreateQueue(now_ms=clock.now_ms(), queue=queue))}\n")
    entries = (
        SendEntry(entry_id="first", body=b"hello, raftq", dedup_id="greeting"),
        SendEntry(entry_id="again", body=b"hello, raftq", dedup_id="greeting"),
        SendEntry(entry_id="urgent", body=b"priority 9 goes first", priority=9),
    )
    sent = _apply(machine, SendMessages(now_ms=clock.now_ms(), queue=queue, entries=entries))
    out.write(f"send 3 entries (one a duplicate): {sent}\n")
    out.write(f"counts: {queue_stats(machine, queue, clock.now_ms())}\n")
    received = _apply(machine, ReceiveMessages(now_ms=clock.now_ms(), queue=queue, max_messages=10))
    out.write(f"receive: {received}\n")
    if isinstance(received, ReceiveResult) and received.messages:
        deletes = tuple(
            DeleteEntry(entry_id=f"d{i}", receipt_handle=message.receipt_handle)
            for i, message in enumerate(received.messages)
        )
        deleted = _apply(
            machine, DeleteMessages(now_ms=clock.now_ms(), queue=queue, entries=deletes)
        )
        out.write(f"delete: {deleted}\n")
    out.write(f"counts: {queue_stats(machine, queue, clock.now_ms())}\n")
    digest, index = machine.digest.hex(), machine.applied_index
    store.close()
    reopened = QueueStateMachine(RocksStore(settings))
    same = reopened.digest.hex() == digest and reopened.applied_index == index
    out.write(
        f"reopened the store: applied index {reopened.applied_index}, digest "
        f"{reopened.digest.hex()[:16]}… {'matches' if same else 'DIFFERS'}\n"
    )
    reopened.store.close()

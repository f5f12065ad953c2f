"""The backend queue state machine: `apply(index, payload) -> results`.

Rules of this file (and of everything it calls):
- It is pure: no clock, no randomness, no I/O beyond the `Store` it is given, no network, no
  threads. tests/unit/backend/test_purity.py checks the imports of the whole package part.
- It never raises for a command: a payload that does not decode, or a command that is invalid
  for the state it meets, yields a `Failure` result and changes nothing. An entry decodes
  (codec.decode_entry) whole or not at all in v1; in v2 each command is validated on its own,
  and one that does not decode gets its own `Failure` while the others apply. The exceptions are
  `CorruptState` (stored bytes that do not decode) and a bug (any other exception, raised again
  as `ApplyFailed`): they propagate, nothing of the entry is committed, and the node stops
  applying rather than serve state it cannot read, or skip a command the other replicas applied
  (a bug hit on one replica only, by a fault of its memory or disk, would otherwise turn into a
  silent difference).
- An entry of a format newer than this replica applies (`EntryFormatTooNew`: its command level,
  common/command_levels.py) is not a bad command but one the other replicas may apply: it
  stops the node (`CorruptState`), as a bug does, rather than skip it and diverge. The leader
  writes no such entry while a member advertises a lower level (raft/member_levels.py).
- One entry is one atomic `Store.commit`: the data of all its commands, the applied index, the
  digest and the state clock together. An entry at or below the stored applied index is skipped,
  so replay after a restart (or a Raft re-append) is harmless.
- Time: each command's `now_ms` (in v2, the entry's) is raised to the state clock, which then
  moves to it; a leader with a lagging clock cannot move time back.
- Work: an entry makes at most `due_transitions_per_entry` due transitions (work_budget.py),
  shared by its commands, so no entry's apply stalls the Raft thread however much falls due at
  once. Every replica of a cluster must be built with the same figure (the default, a constant).
- The digest chains sha256(previous digest, index, payload, fingerprint of the entry's changes):
  replicas that applied the same log prefix and changed their stores alike have the same
  digest; one whose apply wrote anything else, for any reason, differs from then on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from raftq.backend import keys
from raftq.backend.apply_context import ApplyContext
from raftq.backend.ops_ack import change_visibility, delete_messages, move_messages_to_dead_letter
from raftq.backend.ops_dead_letters import (
    accept_dead_letters,
    read_dead_letters,
    release_dead_letters,
)
from raftq.backend.ops_expire import expire
from raftq.backend.ops_move import begin_import, fence_queue, finish_import, import_records
from raftq.backend.ops_queues import create_queue, drop_queue, purge_queue, set_queue_attributes
from raftq.backend.ops_reads import get_message_status, get_queue_stats, list_queues
from raftq.backend.ops_send import send_messages
from raftq.backend.ops_tasks import (
    cancel_tasks,
    finish_tasks,
    get_task_types,
    receive_or_lease,
    set_task_limits,
    set_task_types,
)
from raftq.backend.queue_state import AdvancedAt
from raftq.backend.store import Store
from raftq.backend.task_events import TaskEvent
from raftq.backend.task_reads import get_task, get_task_limits, list_tasks
from raftq.backend.txn import Txn
from raftq.backend.work_budget import WorkBudget
from raftq.common import codec, limits
from raftq.common.command_levels import CODE_LEVEL
from raftq.common.commands import (
    AcceptDeadLetters,
    BeginImport,
    CancelTasks,
    ChangeVisibility,
    Command,
    CreateQueue,
    DeleteMessages,
    DropQueue,
    Expire,
    FenceQueue,
    FinishImport,
    FinishTasks,
    GetMessageStatus,
    GetQueueStats,
    GetTask,
    GetTaskLimits,
    GetTaskTypes,
    ImportRecords,
    ListQueues,
    ListTasks,
    MoveToDeadLetter,
    PurgeQueue,
    ReadDeadLetters,
    ReceiveMessages,
    ReleaseDeadLetters,
    SendMessages,
    SetQueueAttributes,
    SetTaskLimits,
    SetTaskTypes,
)
from raftq.common.errors import ApplyFailed, CorruptState, EntryFormatTooNew, RaftqError
from raftq.common.results import CommandResult, Failure

_HANDLERS: dict[type[Command], Callable[[ApplyContext, Any], CommandResult]] = {
    CreateQueue: create_queue,
    SetQueueAttributes: set_queue_attributes,
    SendMessages: send_messages,
    ReceiveMessages: receive_or_lease,
    DeleteMessages: delete_messages,
    ChangeVisibility: change_visibility,
    MoveToDeadLetter: move_messages_to_dead_letter,
    ReadDeadLetters: read_dead_letters,
    AcceptDeadLetters: accept_dead_letters,
    ReleaseDeadLetters: release_dead_letters,
    PurgeQueue: purge_queue,
    DropQueue: drop_queue,
    FenceQueue: fence_queue,
    BeginImport: begin_import,
    ImportRecords: import_records,
    FinishImport: finish_import,
    GetQueueStats: get_queue_stats,
    GetMessageStatus: get_message_status,
    FinishTasks: finish_tasks,
    CancelTasks: cancel_tasks,
    GetTask: get_task,
    ListTasks: list_tasks,
    SetTaskLimits: set_task_limits,
    GetTaskLimits: get_task_limits,
    SetTaskTypes: set_task_types,
    GetTaskTypes: get_task_types,
    ListQueues: list_queues,
    Expire: expire,
}

GENESIS_DIGEST = bytes(32)


class QueueStateMachine:
    def __init__(
        self,
        store: Store,
        due_transitions_per_entry: int | None = None,
        on_task_events: Callable[[Sequence[TaskEvent]], None] | None = None,
        command_level: int = CODE_LEVEL,
    ) -> None:
        """`due_transitions_per_entry`: the entry budget (None: limits.DUE_TRANSITIONS_PER_ENTRY);
        tests make it small, a node takes it from its settings (the same on every member).
        `on_task_events` is given the task events of each applied entry, once it is committed
        (task_events.py; the node's metrics). `command_level`: the newest entry format applied
        (a node's `--max-command-level`; lower, it applies as the release of that level)."""
        self._store = store
        self._command_level = command_level
        self._on_task_events = on_task_events
        if due_transitions_per_entry is None:
            due_transitions_per_entry = limits.DUE_TRANSITIONS_PER_ENTRY
        self._due_transitions_per_entry = due_transitions_per_entry
        raw_index = store.get(keys.META_APPLIED_INDEX)
        raw_clock = store.get(keys.META_CLOCK_MS)
        self._applied_index = 0 if raw_index is None else keys.read_u64(raw_index, 0)
        self._clock_ms = 0 if raw_clock is None else keys.read_u64(raw_clock, 0)
        self._digest = store.get(keys.META_DIGEST) or GENESIS_DIGEST

    @property
    def applied_index(self) -> int:
        return self._applied_index

    @property
    def digest(self) -> bytes:
        return self._digest

    @property
    def clock_ms(self) -> int:
        """State time: the largest `now_ms` applied so far."""
        return self._clock_ms

    @property
    def store(self) -> Store:
        return self._store

    def apply(self, index: int, payload: bytes) -> list[CommandResult] | None:
        """Apply the entry at `index`. Returns one result per command, or None when the entry
        was applied before (index at or below the applied index)."""
        if index <= self._applied_index:
            return None
        entry = Txn(self._store)
        clock_ms = self._clock_ms
        results: list[CommandResult] = []
        try:
            commands = codec.decode_entry(payload, self._command_level)
        except EntryFormatTooNew as error:
            raise CorruptState(f"entry {index}: {error.message}; upgrade this node") from None
        except RaftqError as error:
            results.append(Failure.of(error))
        else:
            advanced: AdvancedAt = {}
            budget = WorkBudget(self._due_transitions_per_entry)
            for position, command in enumerate(commands):
                if isinstance(command, RaftqError):  # a v2 command that does not decode
                    results.append(Failure.of(command))
                    continue
                clock_ms = max(clock_ms, command.now_ms)
                at = ApplyContext(entry, index, position, clock_ms, advanced, budget)
                result, advanced = self._apply_command(at, command)
                results.append(result)
        digest = hashlib.sha256(
            self._digest + keys.u64(index) + payload + entry.fingerprint()
        ).digest()
        entry.put(keys.META_APPLIED_INDEX, keys.u64(index))
        entry.put(keys.META_CLOCK_MS, keys.u64(clock_ms))
        entry.put(keys.META_DIGEST, digest)
        self._store.commit(entry.write_set())
        self._applied_index, self._clock_ms, self._digest = index, clock_ms, digest
        if entry.events and self._on_task_events is not None:
            self._on_task_events(entry.events)
        return results

    def _apply_command(
        self, at: ApplyContext, command: Command
    ) -> tuple[CommandResult, AdvancedAt]:
        """Apply one command in its own layer over the entry (`at.txn`); keep its writes and its
        record of advanced queues only if it succeeds."""
        entry, advanced = at.txn, at.advanced
        layer = Txn(entry)
        context = replace(at, txn=layer, advanced=dict(advanced))
        try:
            result = _HANDLERS[type(command)](context, command)
        except CorruptState:
            raise  # the replica cannot trust its state: stop it rather than diverge
        except RaftqError as error:
            return Failure.of(error), advanced
        except Exception as error:  # a bug: this replica must not go on without the command
            raise ApplyFailed(
                f"applying {type(command).__name__} at index {at.index} raised "
                f"{type(error).__name__}: {error}"
            ) from error
        layer.merge_into(entry)
        return result, context.advanced

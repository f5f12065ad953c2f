"""The queue state machine as the machine of a Raft node: RocksDB state, checkpoint snapshots.

apply, snapshot write and snapshot install run on pysyncobj's tick thread, each under `lock`;
the node service takes the same lock for the few local reads it makes (metrics, empty receives),
so it never reads a store that is being swapped or an entry half applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from raftq.backend.queue_export import export_chunk
from raftq.backend.reads import QueueGauges, list_queues, next_due_ms, queue_gauges, queue_stats
from raftq.backend.records import ReplicaStatus
from raftq.backend.rocks_store import RocksStore
from raftq.backend.state_directory import StateDirectory
from raftq.backend.state_machine import QueueStateMachine
from raftq.backend.task_events import TaskEvent
from raftq.common.command_levels import CODE_LEVEL
from raftq.common.node_api import ExportChunk, ExportRequest
from raftq.common.results import QueueStats
from raftq.common.settings import StoreSettings

T = TypeVar("T")


class QueueRaftMachine:
    def __init__(
        self,
        state_directory: StateDirectory,
        store_settings: StoreSettings,
        due_transitions_per_entry: int | None = None,
        on_task_events: Callable[[Sequence[TaskEvent]], None] | None = None,
        command_level: int = CODE_LEVEL,
    ) -> None:
        """`due_transitions_per_entry`: the entry budget (settings; None: the default);
        `on_task_events`: the task events of each entry applied (the node's metrics);
        `command_level`: the newest entry format applied (common/command_levels.py)."""
        self._on_task_events = on_task_events
        self._command_level = command_level
        self._directory = state_directory
        self._store_settings = store_settings
        self._budget = due_transitions_per_entry
        self._store = state_directory.open()
        self.machine = QueueStateMachine(
            self._store, self._budget, self._on_task_events, self._command_level
        )
        self.lock = threading.Lock()
        self.snapshots_installed = 0

    @property
    def applied_index(self) -> int:
        return self.machine.applied_index

    @property
    def digest(self) -> bytes:
        return self.machine.digest

    def apply(self, index: int, payload: bytes) -> object:
        with self.lock:
            return self.machine.apply(index, payload)

    def write_snapshot(self, directory: Path) -> None:
        with self.lock:
            self._store.checkpoint(directory)

    def depths(self) -> dict[str, QueueStats]:
        """Counts of every queue at the state clock (for metrics; clients read through the log)."""
        with self.lock:
            now_ms = self.machine.clock_ms
            return {
                record.queue_id: queue_stats(self.machine, record.queue_id, now_ms)
                for record in list_queues(self.machine)
                if record.status == ReplicaStatus.SERVING
            }

    def served_queue_ids(self) -> list[str]:
        with self.lock:
            return [
                record.queue_id
                for record in list_queues(self.machine)
                if record.status == ReplicaStatus.SERVING
            ]

    def queue_gauges(self) -> list[QueueGauges]:
        """Counts and the oldest message's send time of every served queue, at the state clock
        (for metrics)."""
        with self.lock:
            return queue_gauges(self.machine)

    def read(self, reader: Callable[[QueueStateMachine], T]) -> T:
        """`reader` applied to the state between two entries (waits for the lock)."""
        with self.lock:
            return reader(self.machine)

    def read_if_idle(self, reader: Callable[[QueueStateMachine], T]) -> tuple[bool, T | None]:
        """(True, `reader`'s answer) if the lock is free now; (False, None) if an entry or a
        snapshot holds it. Lets the event loop read without ever blocking on the tick thread."""
        if not self.lock.acquire(blocking=False):
            return False, None
        try:
            return True, reader(self.machine)
        finally:
            self.lock.release()

    def next_due_ms(self) -> int | None:
        with self.lock:
            return next_due_ms(self.machine)

    def export(self, request: ExportRequest) -> ExportChunk:
        """A chunk of a fenced queue's records (queue_export.py), read between applies."""
        with self.lock:
            return export_chunk(self.machine.store, request)

    def backup_checkpoint(self, session: str) -> RocksStore:
        """A checkpoint of the store taken between two applies, opened for reading: the state
        as of one applied index (its own `META_APPLIED_INDEX`), whatever applies next."""
        directory = self.backup_directory(session)
        with self.lock:
            self._store.checkpoint(directory)
        return RocksStore(self._store_settings.model_copy(update={"path": directory}))

    def backup_directory(self, session: str) -> Path:
        return self._directory.backup_directory(session)

    def install_snapshot(self, directory: Path) -> None:
        with self.lock:
            self._install(directory)

    def _install(self, directory: Path) -> None:
        incoming = RocksStore(self._store_settings.model_copy(update={"path": directory}))
        try:
            snapshot_index = QueueStateMachine(incoming).applied_index
        finally:
            incoming.close()
        if snapshot_index <= self.machine.applied_index:
            return  # already at or past it: an old snapshot changes nothing
        self._store = self._directory.install(directory, self._store)
        self.machine = QueueStateMachine(
            self._store, self._budget, self._on_task_events, self._command_level
        )
        self.snapshots_installed += 1

    def close(self) -> None:
        self._store.close()

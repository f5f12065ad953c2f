"""FIFO message groups: strict order within a group, one in-flight batch per group.

A group is *ready* when it has visible messages and none in flight. Ready groups are indexed by
the sequence number of their first visible message (GROUP_READY), so a receive finds the oldest
ready group in O(log n) and never walks past messages of locked groups. `refresh` recomputes a
group's readiness after any change to its visible set or its in-flight count; it is the only
place that writes GROUP_READY and GROUP_STATE.
"""

from __future__ import annotations

from itertools import islice

from raftq.backend import keys
from raftq.backend.records import GroupState
from raftq.backend.txn import Txn


class FifoGroups:
    def __init__(self, txn: Txn, qnum: int) -> None:
        self.txn = txn
        self.qnum = qnum

    def add_visible(self, group_id: str, seq: int) -> None:
        self.txn.put(keys.group_visible_key(self.qnum, group_id, seq), b"")
        self.refresh(group_id)

    def remove_visible(self, group_id: str, seq: int) -> None:
        self.txn.delete(keys.group_visible_key(self.qnum, group_id, seq))
        self.refresh(group_id)

    def add_in_flight(self, group_id: str) -> None:
        state = self._state(group_id)
        state.in_flight += 1
        self.refresh(group_id, state)

    def remove_in_flight(self, group_id: str) -> None:
        state = self._state(group_id)
        state.in_flight -= 1
        self.refresh(group_id, state)

    def first_ready_group_seqs(self, limit: int) -> list[int]:
        start, stop = keys.family_range(keys.GROUP_READY, self.qnum)
        first = self.txn.first(start, stop)
        if first is None:
            return []
        _, group_id = keys.group_of_ready_key(first[0])
        prefix = keys.group_prefix(self.qnum, group_id)
        visible = islice(self.txn.scan(prefix, keys.prefix_end(prefix)), limit)
        return [keys.seq_at_end(key) for key, _ in visible]

    def refresh(self, group_id: str, state: GroupState | None = None) -> None:
        if state is None:
            state = self._state(group_id)
        prefix = keys.group_prefix(self.qnum, group_id)
        head = self.txn.first(prefix, keys.prefix_end(prefix))
        ready_head = keys.seq_at_end(head[0]) if head is not None and state.in_flight == 0 else None
        if ready_head != state.ready_head:
            if state.ready_head is not None:
                self.txn.delete(keys.group_ready_key(self.qnum, state.ready_head, group_id))
            if ready_head is not None:
                self.txn.put(keys.group_ready_key(self.qnum, ready_head, group_id), b"")
            state.ready_head = ready_head
        state_key = keys.group_state_key(self.qnum, group_id)
        if state.in_flight == 0 and state.ready_head is None:
            self.txn.delete(state_key)
        else:
            self.txn.put(state_key, state.pack())

    def _state(self, group_id: str) -> GroupState:
        raw = self.txn.get(keys.group_state_key(self.qnum, group_id))
        return GroupState() if raw is None else GroupState.unpack(raw)

"""FIFO message groups: strict order within a group, one in-flight batch per group.

A group is *ready* when it has visible messages and none in flight. Ready groups are indexed by
the sequence number of their first visible message (GROUP_READY), so a receive finds the oldest
ready group in O(log n) and never walks past messages of locked groups. `_settle` is the only
place that writes GROUP_READY and GROUP_STATE.

A group's head is found without a scan wherever the stored state already says it (a group with
messages in flight is not ready whatever its head; a message added or removed behind the head
leaves it), and otherwise by a scan that starts after the head that left. Due work removes
thousands of messages of one group in one Raft entry: a scan from the group's start would step
over every key deleted so far in the entry's layer, once per message (quadratic).
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
        state = self._state(group_id)
        head = state.ready_head
        if state.in_flight == 0:
            # Not ready with nothing in flight means no visible message: this one is the head.
            head = seq if head is None else min(head, seq)
        self._settle(group_id, state, head)

    def remove_visible(self, group_id: str, seq: int) -> None:
        self.txn.delete(keys.group_visible_key(self.qnum, group_id, seq))
        state = self._state(group_id)
        if state.in_flight > 0 or (state.ready_head is not None and state.ready_head != seq):
            self._settle(group_id, state, state.ready_head)  # locked, or the head stays
        else:  # the head left: the next is the first visible message after it
            after_seq = seq if state.ready_head == seq else None
            self._settle(group_id, state, self._head(group_id, after_seq))

    def add_in_flight(self, group_id: str) -> None:
        state = self._state(group_id)
        state.in_flight += 1
        self._settle(group_id, state, None)

    def remove_in_flight(self, group_id: str) -> None:
        state = self._state(group_id)
        state.in_flight -= 1
        head = self._head(group_id) if state.in_flight == 0 else None
        self._settle(group_id, state, head)

    def first_ready_group_seqs(self, limit: int) -> list[int]:
        start, stop = keys.family_range(keys.GROUP_READY, self.qnum)
        first = self.txn.first(start, stop)
        if first is None:
            return []
        _, group_id = keys.group_of_ready_key(first[0])
        prefix = keys.group_prefix(self.qnum, group_id)
        visible = islice(self.txn.scan(prefix, keys.prefix_end(prefix)), limit)
        return [keys.seq_at_end(key) for key, _ in visible]

    def _head(self, group_id: str, after_seq: int | None = None) -> int | None:
        """The lowest visible sequence of the group (above `after_seq`, when every visible
        message at or below it is known to be gone)."""
        prefix = keys.group_prefix(self.qnum, group_id)
        start = prefix if after_seq is None else prefix + keys.u64(after_seq + 1)
        head = self.txn.first(start, keys.prefix_end(prefix))
        return None if head is None else keys.seq_at_end(head[0])

    def _settle(self, group_id: str, state: GroupState, ready_head: int | None) -> None:
        """Store the group's readiness: `ready_head` is its head if it is ready, else None."""
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

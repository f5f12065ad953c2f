"""pysyncobj's failure codes, mapped once to raftq errors.

A proposal that reached the log may still commit after any leader-change failure (seen: writes
that timed out during a partition committed after it healed), so every such code is an unknown
outcome, never a definite failure: the caller retries only with the same idempotency key.
"""

from __future__ import annotations

from pysyncobj import FAIL_REASON

from raftq.common.errors import NotLeader, OutcomeUnknown, Overloaded, PeerError, RaftqError


def error_for(reason: int, leader_hint: str | None) -> RaftqError:
    if reason == FAIL_REASON.QUEUE_FULL:
        return Overloaded("the node's proposal queue is full")
    if reason == FAIL_REASON.MISSING_LEADER:
        return NotLeader("no leader is known yet", leader_hint=leader_hint)
    if reason == FAIL_REASON.REQUEST_DENIED:
        return PeerError("the leader denied the request")
    # NOT_LEADER, LEADER_CHANGED, DISCARDED, UNKNOWN_OUTCOME and anything new.
    return OutcomeUnknown(
        f"leadership changed before the outcome was known (pysyncobj reason {reason})"
    )

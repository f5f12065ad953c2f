"""Rate limits of task types, for all workers of a queue together, decided in apply.

A type may have a rate (starts per second) and a cap on tasks running at once. Both are
replicated state (keys.TASK_LIMITS), so every worker, whatever its process, draws from the same
budget, and no leader change resets it.

- The rate is a token bucket on state time, in integer micro-starts (one start costs 10**6), so
  apply never rounds differently on two replicas and no fraction of a token is lost: `rate_milli`
  (starts per 1000 s) times the milliseconds elapsed is exactly the micro-starts earned. The
  bucket holds at most one second of starts (and at least one start): a type idle for a while
  may start one second's worth at once, never more.
- Running tasks of a type are its keys in TASK_RUNNING (kept by `QueueState._enter/_leave`),
  counted up to the cap: a lease ended but not yet made visible again still counts until the
  queue is advanced (every command advances it first), which can only delay a start.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from raftq.backend import keys
from raftq.backend.queue_state import QueueState
from raftq.backend.records import build_record, pack_fields, unpack_fields
from raftq.common.tasks_wire import RUNNING_LIMIT_MAX, TaskTypeLimits

_START_MICRO = 1_000_000


@dataclass(slots=True)
class TypeLimits:
    task_type: str
    rate_milli: int | None
    max_running: int | None
    tokens_micro: int
    refilled_at_ms: int

    def pack(self) -> bytes:
        return pack_fields(
            self.task_type,
            self.rate_milli,
            self.max_running,
            self.tokens_micro,
            self.refilled_at_ms,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> TypeLimits:
        fields = unpack_fields(raw, "task limits", 5)
        return build_record("task limits", lambda: cls(*fields))

    @property
    def capacity_micro(self) -> int:
        assert self.rate_milli is not None
        return max(_START_MICRO, self.rate_milli * 1_000)

    def refill(self, now_ms: int) -> None:
        if self.rate_milli is not None and now_ms > self.refilled_at_ms:
            earned = (now_ms - self.refilled_at_ms) * self.rate_milli
            self.tokens_micro = min(self.capacity_micro, self.tokens_micro + earned)
        self.refilled_at_ms = max(self.refilled_at_ms, now_ms)

    def next_token_at_ms(self) -> int:
        """When the bucket holds one start again (rate limited types only)."""
        assert self.rate_milli is not None
        missing = _START_MICRO - self.tokens_micro
        return self.refilled_at_ms + max(1, -(-missing // self.rate_milli))


def load(queue: QueueState, task_type: str) -> TypeLimits | None:
    raw = queue.txn.get(keys.task_limits_key(queue.qnum, task_type))
    return None if raw is None else TypeLimits.unpack(raw)


def save(queue: QueueState, limits: TypeLimits) -> None:
    queue.txn.put(keys.task_limits_key(queue.qnum, limits.task_type), limits.pack())


def running(queue: QueueState, task_type: str, up_to: int) -> int:
    prefix = keys.task_type_prefix(keys.TASK_RUNNING, queue.qnum, task_type)
    return sum(1 for _ in islice(queue.txn.scan(prefix, keys.prefix_end(prefix)), up_to))


def set_limits(
    queue: QueueState, task_type: str, rate_milli: int | None, max_running: int | None
) -> None:
    """Set (or with both None, clear) a type's limits; a new rate starts with a full bucket."""
    key = keys.task_limits_key(queue.qnum, task_type)
    if rate_milli is None and max_running is None:
        queue.txn.delete(key)
        return
    limits = TypeLimits(task_type, rate_milli, max_running, 0, queue.now_ms)
    if rate_milli is not None:
        limits.tokens_micro = limits.capacity_micro
    save(queue, limits)


def view(queue: QueueState, limits: TypeLimits) -> TaskTypeLimits:
    # A type without a cap is counted as far as the largest cap anyone may set: the count is
    # what an operator reads before choosing one.
    cap = limits.max_running if limits.max_running is not None else RUNNING_LIMIT_MAX
    return TaskTypeLimits(
        task_type=limits.task_type,
        rate_milli=limits.rate_milli,
        max_running=limits.max_running,
        running=running(queue, limits.task_type, cap),
    )


class TypeGate:
    """The limits met by one lease: admits starts type by type and remembers when a refused
    type may start again. Call `close` once to store the buckets it drew from."""

    def __init__(self, queue: QueueState) -> None:
        self._queue = queue
        self._limits: dict[str, TypeLimits | None] = {}
        self._running: dict[str, int] = {}
        self.retry_at_ms: int | None = None  # the earliest time a refused type earns a token

    def admit(self, task_type: str) -> bool:
        """Whether one more task of `task_type` may start now; if so, it is counted."""
        if task_type not in self._limits:
            self._limits[task_type] = load(self._queue, task_type)
            limits = self._limits[task_type]
            if limits is not None:
                limits.refill(self._queue.now_ms)
                if limits.max_running is not None:
                    self._running[task_type] = running(self._queue, task_type, limits.max_running)
        limits = self._limits[task_type]
        if limits is None:
            return True
        if limits.max_running is not None and self._running[task_type] >= limits.max_running:
            return False  # a finish wakes no poll for it: the worker's next lease asks again
        if limits.rate_milli is not None:
            if limits.tokens_micro < _START_MICRO:
                at_ms = limits.next_token_at_ms()
                self.retry_at_ms = (
                    at_ms if self.retry_at_ms is None else min(self.retry_at_ms, at_ms)
                )
                return False
            limits.tokens_micro -= _START_MICRO
        if limits.max_running is not None:
            self._running[task_type] += 1
        return True

    def close(self) -> None:
        for limits in self._limits.values():
            if limits is not None and limits.rate_milli is not None:
                save(self._queue, limits)


def accepts_type(queue: QueueState, task_type: str) -> bool:
    """Whether a task of `task_type` may be submitted: the queue declared no types, or this one."""
    if queue.txn.get(keys.task_types_key(queue.qnum, task_type)) is not None:
        return True
    return queue.txn.first(*keys.family_range(keys.TASK_TYPES, queue.qnum)) is None


def declared_types(queue: QueueState, up_to: int) -> list[str]:
    start, stop = keys.family_range(keys.TASK_TYPES, queue.qnum)
    return [key[len(start) :].decode() for key, _ in islice(queue.txn.scan(start, stop), up_to)]

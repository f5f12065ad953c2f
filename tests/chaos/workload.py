"""W1, the total-queue workload (chaos.md §6.2): producers send unique values, consumers receive
and delete them, and every operation goes into a `History`.

- Values are `<producer>-<sequence>` (`p3-17`), unique per send: W1 never retries a send, so
  each value names one attempt and the checker can tell lost from recovered.
- Every operation has a timeout (`op_timeout_s`, 5 s as in Jepsen's NATS tests). A timeout, a
  transport error or a 5xx after the request left is `info` (outcome unknown); only an error
  the service guarantees was not applied (`DefiniteFailure`, a 4xx) is `fail`.
- Each process does one operation at a time, so the history pairs invocations with completions.
- `drain()` runs after the faults are healed: consumers go on until every producer's last
  acknowledged value was delivered, the queue answered empty `empty_polls` times in a row, and
  1.5 visibility timeouts have passed since the last delivery whose delete was not confirmed
  (so anything it leased is visible again); or until `max_s`.

W3 (FIFO and dedup) is the same workload on a FIFO queue (`fifo_groups` > 0): each send names a
message group (`g<sequence mod fifo_groups>`, so producers interleave within every group) and
carries its value as its deduplication id, and a send whose outcome is unknown is sent again,
same value, same dedup id, until it is answered or `retry_unknown_s` has passed (well inside
the dedup window) — what a client does to get exactly-once sends (DESIGN.md §5). The checker
then holds every answer and delivery for one dedup id to one message id, and the first
deliveries of each group to the order of the sends.

WD (dead letters on another cluster) is W1 with a detour (`dead_letter_source` set): producers
send to the source queue, whose redrive policy names `queue` as its dead-letter queue with a
max receive count of 1; `poison_consumers` processes receive from the source with a visibility
timeout of 0 and never delete, so every message is dead-lettered at its second receive; the
consumers, whose operations the history records, receive and delete from the dead-letter queue.
Poison receives are not in the history (what they see is a lease of 0 s, promised nothing), and
they go on through the drain, which ends only when every acknowledged send arrived in the
dead-letter queue (order across the forward is not kept, so the high-water marks say little).

The service is reached through `QueueApi` (the SDK for a real deployment, `SdkQueueApi`; an
in-memory fake in the tests), and time through `Clock` and `Sleep`, so a test can run a whole
workload with no real waiting.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tests.chaos.history import Delivery, Event, History, now

Clock = Callable[[], tuple[int, float]]  # (monotonic ns, wall-clock s)
Sleep = Callable[[float], Awaitable[None]]

_RETRY_PAUSE_S = 0.2  # between attempts of a send whose outcome was unknown
_POISON_IDLE_S = 0.2  # a poison consumer that found nothing to dead-letter waits this long


class DefiniteFailure(Exception):
    """Raised by a `QueueApi` when the service guarantees the operation was not applied."""


class QueueApi(Protocol):
    async def send(
        self, queue: str, body: str, *, dedup_id: str | None = None, group: str | None = None
    ) -> str:
        """Send one message (to message group `group` of a FIFO queue); its message id."""
        ...

    async def receive(
        self, queue: str, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> Sequence[Delivery]: ...

    async def delete(self, queue: str, receipt_handle: str) -> None: ...


@dataclass(frozen=True)
class TotalQueueConfig:
    queue: str
    producers: int = 5
    consumers: int = 5
    visibility_timeout_s: int = 5
    receive_max: int = 10
    receive_wait_s: int = 1
    op_timeout_s: float = 5.0
    # Stop each producer after this many sends (tests); None: until `stop` is set.
    sends_per_producer: int | None = None
    node: str = "lb"  # what the history names as the node served (the load balancer)
    # W3: message groups of a FIFO queue (0: a standard queue), and how long a send whose
    # outcome is unknown is retried with the same dedup id (0: never; W1 sends each value once).
    fifo_groups: int = 0
    retry_unknown_s: float = 0.0
    # WD: the queue producers send to, whose dead-letter queue is `queue`; and how many processes
    # receive from it without deleting (None: W1 or W3, producers send to `queue`).
    dead_letter_source: str | None = None
    poison_consumers: int = 2

    @property
    def send_queue(self) -> str:
        return self.dead_letter_source or self.queue


@dataclass
class DrainReport:
    drained: bool
    duration_s: float
    unread_high_water_marks: dict[str, str] = field(default_factory=dict)


class TotalQueueWorkload:
    def __init__(
        self,
        api: QueueApi,
        history: History,
        config: TotalQueueConfig,
        clock: Clock = now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._api = api
        self._history = history
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._high_water: dict[str, int] = {}  # producer -> highest acknowledged sequence
        self._acknowledged: set[str] = set()
        self._delivered: set[str] = set()
        self._last_unconfirmed_ns: int | None = None
        self._empty_in_a_row = 0
        self._sending = False
        self._poison_stop = asyncio.Event()
        self._poisoning: list[asyncio.Task[None]] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Producers and consumers together until `stop` is set (or every producer has sent
        `sends_per_producer`); then waits for operations in flight to complete."""
        self._sending = True
        consumers_stop = asyncio.Event()
        self._start_poisoning()
        producers = [
            asyncio.create_task(self._produce(f"p{k}", stop)) for k in range(self._config.producers)
        ]
        consumers = [
            asyncio.create_task(self._consume(f"c{k}", consumers_stop))
            for k in range(self._config.consumers)
        ]
        await asyncio.gather(*producers)
        self._sending = False
        consumers_stop.set()
        await asyncio.gather(*consumers)

    async def drain(self, *, empty_polls: int = 5, max_s: float = 300.0) -> DrainReport:
        started_ns, _ = self._clock()
        done = asyncio.Event()
        self._start_poisoning()
        deadline_ns = started_ns + int(max_s * 1e9)

        async def consumer(process: str) -> None:
            while not done.is_set():
                await self._receive_and_delete(process)
                now_ns, _ = self._clock()
                if self._drained(empty_polls, now_ns) or now_ns >= deadline_ns:
                    done.set()

        await asyncio.gather(*(consumer(f"d{k}") for k in range(self._config.consumers)))
        await self._stop_poisoning()
        ended_ns, _ = self._clock()
        unread = {
            producer: f"{producer}-{sequence}"
            for producer, sequence in self._high_water.items()
            if f"{producer}-{sequence}" not in self._delivered
        }
        return DrainReport(
            drained=self._drained(empty_polls, ended_ns),
            duration_s=(ended_ns - started_ns) / 1e9,
            unread_high_water_marks=unread,
        )

    # --- processes ------------------------------------------------------------------------------

    async def _produce(self, process: str, stop: asyncio.Event) -> None:
        limit = self._config.sends_per_producer
        for sequence in itertools.count():
            if stop.is_set() or (limit is not None and sequence >= limit):
                return
            value = f"{process}-{sequence}"
            if await self._send(process, value, self._group_of(sequence)):
                self._high_water[process] = max(self._high_water.get(process, -1), sequence)
                self._acknowledged.add(value)

    def _group_of(self, sequence: int) -> str | None:
        groups = self._config.fifo_groups
        return f"g{sequence % groups}" if groups else None

    async def _send(self, process: str, value: str, group: str | None) -> bool:
        """Send `value` (again, with the same dedup id, while the outcome is unknown and
        `retry_unknown_s` lasts); whether it was acknowledged."""
        config = self._config
        dedup_id = value if group is not None or config.retry_unknown_s else None
        fields = {"value": value, "dedup_id": dedup_id, "group": group}
        first_ns, _ = self._clock()
        while True:
            self._event(process, "invoke", "send", **fields)
            try:
                message_id = await asyncio.wait_for(
                    self._api.send(config.send_queue, value, dedup_id=dedup_id, group=group),
                    config.op_timeout_s,
                )
            except DefiniteFailure as error:
                self._event(process, "fail", "send", error=str(error), **fields)
                return False
            except Exception as error:  # anything else: the outcome is unknown
                self._event(process, "info", "send", error=_describe(error), **fields)
                now_ns, _ = self._clock()
                if now_ns - first_ns >= config.retry_unknown_s * 1e9:
                    return False
                await self._sleep(_RETRY_PAUSE_S)
            else:
                self._event(process, "ok", "send", message_id=message_id, **fields)
                return True

    def _start_poisoning(self) -> None:
        source = self._config.dead_letter_source
        if source is None or self._poisoning:
            return
        self._poison_stop.clear()
        self._poisoning = [
            asyncio.create_task(self._poison(source)) for _ in range(self._config.poison_consumers)
        ]

    async def _stop_poisoning(self) -> None:
        self._poison_stop.set()
        await asyncio.gather(*self._poisoning)
        self._poisoning = []

    async def _poison(self, source: str) -> None:
        """Receive from the source queue with a visibility timeout of 0 and never delete: the
        second receive of each message dead-letters it. Errors are expected under faults and
        only slow it down."""
        config = self._config
        while not self._poison_stop.is_set():
            try:
                received = await asyncio.wait_for(
                    self._api.receive(
                        source,
                        max_messages=config.receive_max,
                        wait_s=config.receive_wait_s,
                        visibility_timeout_s=0,
                    ),
                    config.op_timeout_s + config.receive_wait_s,
                )
            except Exception:  # under faults, anything: try again shortly
                received = ()
                await self._sleep(_RETRY_PAUSE_S)
            if not received:
                await self._sleep(_POISON_IDLE_S)

    async def _consume(self, process: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._receive_and_delete(process)

    async def _receive_and_delete(self, process: str) -> None:
        config = self._config
        self._event(
            process,
            "invoke",
            "receive",
            visibility_timeout_ms=config.visibility_timeout_s * 1000,
        )
        try:
            deliveries = await asyncio.wait_for(
                self._api.receive(
                    config.queue,
                    max_messages=config.receive_max,
                    wait_s=config.receive_wait_s,
                    visibility_timeout_s=config.visibility_timeout_s,
                ),
                config.op_timeout_s + config.receive_wait_s,
            )
        except DefiniteFailure as error:
            self._event(process, "fail", "receive", error=str(error))
            return
        except Exception as error:  # the outcome is unknown
            self._event(process, "info", "receive", error=_describe(error))
            # It may have leased messages nobody will delete: wait out their visibility.
            self._last_unconfirmed_ns, _ = self._clock()
            return
        self._event(process, "ok", "receive", deliveries=tuple(deliveries))
        self._empty_in_a_row = 0 if deliveries else self._empty_in_a_row + 1
        for delivery in deliveries:
            self._delivered.add(delivery.value)
            if not await self._delete(process, delivery):
                self._last_unconfirmed_ns, _ = self._clock()

    async def _delete(self, process: str, delivery: Delivery) -> bool:
        """Delete one delivery; whether the delete was confirmed."""
        fields = {"value": delivery.value, "receipt_handle": delivery.receipt_handle}
        self._event(process, "invoke", "delete", **fields)
        try:
            await asyncio.wait_for(
                self._api.delete(self._config.queue, delivery.receipt_handle),
                self._config.op_timeout_s,
            )
        except DefiniteFailure as error:
            self._event(process, "fail", "delete", error=str(error), **fields)
            return False
        except Exception as error:  # the outcome is unknown
            self._event(process, "info", "delete", error=_describe(error), **fields)
            return False
        self._event(process, "ok", "delete", **fields)
        return True

    # --- helpers ----------------------------------------------------------------------------------

    def _drained(self, empty_polls: int, now_ns: int) -> bool:
        if self._config.dead_letter_source is None:
            every_mark_read = all(
                f"{producer}-{sequence}" in self._delivered
                for producer, sequence in self._high_water.items()
            )
        else:
            every_mark_read = self._acknowledged <= self._delivered
        quiet_ns = int(1.5 * self._config.visibility_timeout_s * 1e9)
        leases_expired = (
            self._last_unconfirmed_ns is None or now_ns - self._last_unconfirmed_ns >= quiet_ns
        )
        return every_mark_read and self._empty_in_a_row >= empty_polls and leases_expired

    def _event(self, process: str, type_: str, f: str, **fields: object) -> None:
        t_mono_ns, t_wall = self._clock()
        self._history.record(
            Event.model_validate(
                {
                    "process": process,
                    "type": type_,
                    "f": f,
                    "t_mono_ns": t_mono_ns,
                    "t_wall": t_wall,
                    "node": self._config.node,
                    **fields,
                }
            )
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__

"""Check a chaos run's history against what raftq promises (DESIGN.md §1, chaos.md §6.1).

Pure: a history in, a `Summary` out; no clock, no I/O. Values are unique per send attempt and
named `<producer>-<sequence>`, so every delivery names the send it came from.

Total queue (Jepsen's checker): `attempted` sends (invoked), `acknowledged` (ok), `failed`
(definite 4xx), `unknown` (info). Every value delivered at least once is `delivered`; then
- lost = acknowledged and never delivered (broken down per producer into prefix / middle /
  postfix: before its first delivered value, between delivered ones, after its last);
- unexpected = delivered but never sent;
- recovered = unknown outcome, yet delivered (legal);
- g1a = definitely failed, yet delivered (a false failure; a violation).

Leases. A receive invoked at `i` and answered at `o` with visibility timeout `v` made the message
invisible at a moment `p` in [i, o] until `p + v`. Deadlines are the leader's wall-clock time
stamped into the log, and the nodes run in containers on the harness's host, so they read the
harness's wall clock: `i` and `o` are the events' wall-clock times (`t_wall`), and `margin`
absorbs rounding and any clock offset a nemesis injects. (Measured on the monotonic clock
instead, a step of the host's wall clock would look like a lease cut short; the summary
reports the largest such step, `largest_wall_clock_step_ms`.) Two deliveries of one message
are certainly overlapping leases when no placement of their moments lets either start after the
other's lease ended: `o2 - i1 < v1 - margin` and `o1 - i2 < v2 - margin`. Each delivery after a
message's first is a duplicate, classified:
- violation `after_confirmed_delete`: a delete of the previous delivery's handle returned ok
  before this receive was invoked;
- violation `lease_overlap`: as above;
- legal `after_uncertain_delete`: the previous delivery's delete had an unknown outcome or ran
  concurrently with this receive;
- legal `after_lease_expiry`: otherwise (the previous consumer did not delete in time).

FIFO (per message group): if send a was acknowledged before send b was invoked, b's first
delivery must not certainly precede a's (b's receive answered before a's receive was invoked).
Identity (dedup): every ok answer for one dedup id carries one message id, and deliveries of
values sent with that id carry no other; a send without a dedup id is its own identity (its value
is unique), so a value delivered under a message id its send was not answered with, or under two,
is a violation too (a dead-lettered copy keeps its message id: WD).
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from tests.chaos.history import Delivery, Event, History, Operation

NS_PER_MS = 1_000_000

# Records a few example values of a finding (kind, values) for the summary.
_Note = Callable[[str, Iterable[str]], None]


@dataclass(frozen=True)
class Received:
    """A delivery with the receive that carried it."""

    delivery: Delivery
    invoked_ns: int
    completed_ns: int
    visibility_ns: int
    position: int  # index within its receive's batch
    invoked_wall_ns: int  # the same moments on the wall clock, which leases are measured on
    completed_wall_ns: int


@dataclass
class LostBreakdown:
    prefix: int = 0
    middle: int = 0
    postfix: int = 0
    unread_producer: int = 0  # the producer had no value delivered at all


@dataclass
class Duplicates:
    after_lease_expiry: int = 0
    after_uncertain_delete: int = 0
    lease_overlap: int = 0
    after_confirmed_delete: int = 0

    @property
    def legal(self) -> int:
        return self.after_lease_expiry + self.after_uncertain_delete

    @property
    def violations(self) -> int:
        return self.lease_overlap + self.after_confirmed_delete


@dataclass
class Summary:
    attempted: int
    acknowledged: int
    failed: int
    unknown: int
    delivered: int
    lost: int
    unexpected: int
    recovered: int
    g1a: int
    lost_breakdown: LostBreakdown
    duplicates: Duplicates
    fifo_inversions: int
    dedup_violations: int
    operations: dict[str, dict[str, int]]
    duration_s: float  # the whole history, drain included
    ops_per_s: float  # successful operations per second until the last send
    acknowledged_sends_per_s: float
    longest_without_acknowledged_send_s: float
    min_ops_per_s: float
    # The largest jump of the wall clock against the monotonic clock between two events (a VM's
    # clock being corrected, say): leases are measured on the wall clock.
    largest_wall_clock_step_ms: float = 0.0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def safe(self) -> bool:
        """No promise broken: nothing lost, invented, falsely failed, doubly leased, or out of
        order."""
        return (
            self.lost == 0
            and self.unexpected == 0
            and self.g1a == 0
            and self.duplicates.violations == 0
            and self.fifo_inversions == 0
            and self.dedup_violations == 0
        )

    @property
    def valid(self) -> bool:
        """Enough load to mean anything (below the floor a run is invalid, not passed)."""
        return self.ops_per_s >= self.min_ops_per_s

    def to_json(self) -> str:
        payload = asdict(self) | {"safe": self.safe, "valid": self.valid}
        payload["duplicates"] |= {
            "legal": self.duplicates.legal,
            "violations": self.duplicates.violations,
        }
        return json.dumps(payload, indent=2, sort_keys=True)

    def render(self) -> str:
        """The Jepsen-style summary of a cell."""
        d, lb = self.duplicates, self.lost_breakdown
        lines = [
            f"sends: attempted {self.attempted}, acknowledged {self.acknowledged}, "
            f"failed {self.failed}, unknown {self.unknown}",
            f"delivered {self.delivered}, lost {self.lost} (prefix {lb.prefix}, middle "
            f"{lb.middle}, postfix {lb.postfix}, unread producer {lb.unread_producer}), "
            f"unexpected {self.unexpected}, recovered {self.recovered}, g1a {self.g1a}",
            f"duplicates: legal {d.legal} (after lease expiry {d.after_lease_expiry}, after "
            f"uncertain delete {d.after_uncertain_delete}), violations {d.violations} (lease "
            f"overlap {d.lease_overlap}, after confirmed delete {d.after_confirmed_delete})",
            f"fifo inversions {self.fifo_inversions}, dedup violations {self.dedup_violations}",
            f"{self.duration_s:.1f} s, {self.ops_per_s:.1f} ops/s until the last send (floor "
            f"{self.min_ops_per_s:g}), "
            f"{self.acknowledged_sends_per_s:.1f} acknowledged sends/s, longest window without "
            f"an acknowledged send {self.longest_without_acknowledged_send_s:.2f} s",
            f"largest step of the wall clock against the monotonic clock "
            f"{self.largest_wall_clock_step_ms:.0f} ms",
            f"{'SAFE' if self.safe else 'UNSAFE'}, {'valid' if self.valid else 'INVALID (load)'}",
        ]
        lines += [f"  e.g. {kind}: {', '.join(values)}" for kind, values in self.examples.items()]
        return "\n".join(lines)


def check(history: History, *, margin_ms: int = 100, min_ops_per_s: float = 100.0) -> Summary:
    operations = list(history.operations())
    sends = [op for op in operations if op.f == "send"]
    received = _received(operations)
    examples: dict[str, list[str]] = {}

    def note(kind: str, values: Iterable[str]) -> None:
        chosen = sorted(values)[:5]
        if chosen:
            examples[kind] = chosen

    attempted = {_value(op) for op in sends}
    by_outcome: dict[str, set[str]] = defaultdict(set)
    for op in sends:
        by_outcome[op.type].add(_value(op))
    acknowledged = by_outcome["ok"]
    # A value acknowledged by any attempt counts as acknowledged, never also as failed/unknown;
    # one whose attempts (W3 retries a value with its dedup id) include an unknown outcome and
    # no acknowledgement is unknown: a later definite failure says nothing of the earlier try.
    unknown = by_outcome["info"] - acknowledged
    failed = by_outcome["fail"] - acknowledged - unknown
    delivered = set(received)
    lost = acknowledged - delivered
    unexpected = delivered - attempted
    g1a = failed & delivered
    note("lost", lost)
    note("unexpected", unexpected)
    note("g1a", g1a)

    duplicates = _duplicates(received, _deletes(operations), margin_ms * NS_PER_MS, note)
    fifo_inversions = _fifo_inversions(sends, received, note)
    dedup_violations = _dedup_violations(sends, received, note)

    start_ns = min((op.invoked_ns for op in operations), default=0)
    end_ns = max(
        (op.completed_ns or op.invoked_ns for op in operations),
        default=0,
    )
    duration_s = max(end_ns - start_ns, 1) / 1e9
    acked_times = sorted(
        op.completed_ns for op in sends if op.type == "ok" and op.completed_ns is not None
    )
    # The workload ends with the last send: the drain that follows sends nothing, and only
    # consumers work in it (slowly on a FIFO queue, one batch in flight per group), so the
    # rates and the load floor are measured up to there. Only successful operations count
    # towards the floor: a run whose requests all fail fast would otherwise look busy.
    sends_end_ns = max((op.completed_ns or op.invoked_ns for op in sends), default=end_ns)
    workload_s = max(sends_end_ns - start_ns, 1) / 1e9
    completed = sum(
        1
        for op in operations
        if op.type == "ok" and op.completed_ns is not None and op.completed_ns <= sends_end_ns
    )
    edges = [start_ns, *acked_times, sends_end_ns]
    longest_gap_ns = max((b - a for a, b in itertools.pairwise(edges)), default=0)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for op in operations:
        counts[op.f][op.type] += 1

    return Summary(
        attempted=len(attempted),
        acknowledged=len(acknowledged),
        failed=len(failed),
        unknown=len(unknown),
        delivered=len(delivered),
        lost=len(lost),
        unexpected=len(unexpected),
        recovered=len(unknown & delivered),
        g1a=len(g1a),
        lost_breakdown=_lost_breakdown(lost, delivered),
        duplicates=duplicates,
        fifo_inversions=fifo_inversions,
        dedup_violations=dedup_violations,
        operations={f: dict(types) for f, types in counts.items()},
        duration_s=duration_s,
        ops_per_s=completed / workload_s,
        acknowledged_sends_per_s=len(acked_times) / workload_s,
        longest_without_acknowledged_send_s=longest_gap_ns / 1e9,
        min_ops_per_s=min_ops_per_s,
        largest_wall_clock_step_ms=_largest_wall_clock_step_ns(history.events) / NS_PER_MS,
        examples=examples,
    )


def _value(op: Operation) -> str:
    if op.invoke.value is None:
        raise ValueError(f"a {op.f} by {op.invoke.process} carries no value")
    return op.invoke.value


def _received(operations: list[Operation]) -> dict[str, list[Received]]:
    """Every delivery per value, in the order the receives were answered."""
    by_value: dict[str, list[Received]] = defaultdict(list)
    for op in operations:
        if op.f != "receive" or op.type != "ok" or op.completion is None:
            continue
        visibility_ms = op.invoke.visibility_timeout_ms
        if visibility_ms is None:
            raise ValueError("a receive must record its visibility timeout")
        for position, delivery in enumerate(op.completion.deliveries):
            by_value[delivery.value].append(
                Received(
                    delivery,
                    op.invoked_ns,
                    op.completion.t_mono_ns,
                    visibility_ms * NS_PER_MS,
                    position,
                    _wall_ns(op.invoke),
                    _wall_ns(op.completion),
                )
            )
    for deliveries in by_value.values():
        deliveries.sort(key=lambda r: (r.completed_ns, r.position))
    return by_value


@dataclass(frozen=True)
class _Delete:
    type: str
    invoked_ns: int
    completed_ns: int | None


def _deletes(operations: list[Operation]) -> dict[str, list[_Delete]]:
    by_handle: dict[str, list[_Delete]] = defaultdict(list)
    for op in operations:
        if op.f == "delete" and op.invoke.receipt_handle is not None:
            by_handle[op.invoke.receipt_handle].append(
                _Delete(op.type, op.invoked_ns, op.completed_ns)
            )
    return by_handle


def _duplicates(
    received: dict[str, list[Received]],
    deletes: dict[str, list[_Delete]],
    margin_ns: int,
    note: _Note,
) -> Duplicates:
    result = Duplicates()
    overlap: list[str] = []
    resurrected: list[str] = []
    for value, deliveries in received.items():
        for previous, current in itertools.pairwise(deliveries):
            attempts = deletes.get(previous.delivery.receipt_handle, [])
            confirmed_before = (
                d.type == "ok"
                and d.completed_ns is not None
                and d.completed_ns < current.invoked_ns
                for d in attempts
            )
            if any(confirmed_before):
                result.after_confirmed_delete += 1
                resurrected.append(value)
            elif _certainly_overlapping(previous, current, margin_ns):
                result.lease_overlap += 1
                overlap.append(value)
            elif any(d.type in ("ok", "info") for d in attempts):
                result.after_uncertain_delete += 1
            else:
                result.after_lease_expiry += 1
    note("lease_overlap", overlap)
    note("after_confirmed_delete", resurrected)
    return result


def _certainly_overlapping(a: Received, b: Received, margin_ns: int) -> bool:
    b_after_a_impossible = b.completed_wall_ns - a.invoked_wall_ns < a.visibility_ns - margin_ns
    a_after_b_impossible = a.completed_wall_ns - b.invoked_wall_ns < b.visibility_ns - margin_ns
    return b_after_a_impossible and a_after_b_impossible


def _wall_ns(event: Event) -> int:
    return round(event.t_wall * 1e9)


def _largest_wall_clock_step_ns(events: Iterable[Event]) -> int:
    """The largest change of (wall clock - monotonic clock) between consecutive events."""
    offsets = [_wall_ns(e) - e.t_mono_ns for e in sorted(events, key=lambda e: e.t_mono_ns)]
    return max((abs(b - a) for a, b in itertools.pairwise(offsets)), default=0)


def _fifo_inversions(
    sends: list[Operation], received: dict[str, list[Received]], note: _Note
) -> int:
    """Per group, sends b whose first delivery certainly preceded that of a send a which was
    acknowledged before b was invoked."""
    groups: dict[str, list[tuple[Operation, Received]]] = defaultdict(list)
    for op in sends:
        value = _value(op)
        if op.invoke.group is not None and op.type == "ok" and value in received:
            groups[op.invoke.group].append((op, received[value][0]))
    inverted: list[str] = []
    for members in groups.values():
        # Sweep b in order of invocation, with every a acknowledged before it seen so far,
        # tracking the latest moment one of those a's first delivery may have started.
        by_ack = sorted(members, key=lambda m: m[0].completed_ns or 0)
        ack_times = [m[0].completed_ns or 0 for m in by_ack]
        latest_start = [0] * (len(by_ack) + 1)
        for k, (_, first) in enumerate(by_ack):
            latest_start[k + 1] = max(latest_start[k], first.invoked_ns)
        for op, first in members:
            before = bisect.bisect_left(ack_times, op.invoked_ns)
            if latest_start[before] > first.completed_ns:
                inverted.append(_value(op))
    note("fifo_inversion", inverted)
    return len(inverted)


def _dedup_violations(
    sends: list[Operation], received: dict[str, list[Received]], note: _Note
) -> int:
    ids: dict[str, set[str]] = defaultdict(set)
    for op in sends:
        dedup_id = op.invoke.dedup_id or _value(op)
        if op.type == "ok" and op.completion is not None and op.completion.message_id:
            ids[dedup_id].add(op.completion.message_id)
        for delivery in received.get(_value(op), []):
            ids[dedup_id].add(delivery.delivery.message_id)
    violating = [dedup_id for dedup_id, message_ids in ids.items() if len(message_ids) > 1]
    note("dedup", violating)
    return len(violating)


def _lost_breakdown(lost: set[str], delivered: set[str]) -> LostBreakdown:
    read: dict[str, list[int]] = defaultdict(list)
    for value in delivered:
        producer, sequence = _producer_sequence(value)
        read[producer].append(sequence)
    breakdown = LostBreakdown()
    for value in lost:
        producer, sequence = _producer_sequence(value)
        seen = read.get(producer)
        if not seen:
            breakdown.unread_producer += 1
        elif sequence < min(seen):
            breakdown.prefix += 1
        elif sequence > max(seen):
            breakdown.postfix += 1
        else:
            breakdown.middle += 1
    return breakdown


def _producer_sequence(value: str) -> tuple[str, int]:
    producer, _, sequence = value.rpartition("-")
    return (producer, int(sequence)) if producer and sequence.isdigit() else (value, 0)

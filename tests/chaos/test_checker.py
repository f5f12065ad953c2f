"""The checker on synthetic histories: each finding it reports, and the legal cases it must not
report."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from tests.chaos.checker import check
from tests.chaos.history import Delivery, Event, History

Outcome = Literal["ok", "fail", "info"]
MS = 1_000_000


class Builder:
    """Write a history operation by operation, with times in milliseconds."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        # The wall clock reads the monotonic clock plus this (a test moves it to step the clock).
        self.wall_offset_ms = 0

    def _op(
        self,
        process: str,
        f: Literal["send", "receive", "delete"],
        start_ms: int,
        end_ms: int | None,
        outcome: Outcome,
        *,
        invoke_fields: Mapping[str, object],
        completion_fields: Mapping[str, object] = MappingProxyType({}),
    ) -> None:
        base: dict[str, object] = {"process": process, "f": f, **invoke_fields}
        self.events.append(Event.model_validate(base | {"type": "invoke", **self._times(start_ms)}))
        if end_ms is not None:
            completion = base | {"type": outcome, **self._times(end_ms), **completion_fields}
            self.events.append(Event.model_validate(completion))

    def _times(self, at_ms: int) -> dict[str, object]:
        return {"t_mono_ns": at_ms * MS, "t_wall": (at_ms + self.wall_offset_ms) / 1000}

    def send(
        self,
        value: str,
        start_ms: int,
        end_ms: int,
        outcome: Outcome = "ok",
        *,
        message_id: str | None = None,
        dedup_id: str | None = None,
        group: str | None = None,
        process: str = "p",
    ) -> None:
        fields: dict[str, object] = {"value": value, "dedup_id": dedup_id, "group": group}
        done = {"message_id": message_id or f"id-{value}"} if outcome == "ok" else {}
        self._op(
            process, "send", start_ms, end_ms, outcome, invoke_fields=fields, completion_fields=done
        )

    def receive(
        self,
        start_ms: int,
        end_ms: int,
        values: list[str],
        *,
        handles: list[str] | None = None,
        visibility_ms: int = 5000,
        process: str = "c",
        message_ids: list[str] | None = None,
    ) -> None:
        deliveries = tuple(
            Delivery(
                value=value,
                message_id=(message_ids[k] if message_ids else f"id-{value}"),
                receipt_handle=(handles[k] if handles else f"h-{value}-{start_ms}"),
                receive_count=1,
            )
            for k, value in enumerate(values)
        )
        self._op(
            process,
            "receive",
            start_ms,
            end_ms,
            "ok",
            invoke_fields={"visibility_timeout_ms": visibility_ms},
            completion_fields={"deliveries": deliveries},
        )

    def delete(
        self, value: str, handle: str, start_ms: int, end_ms: int, outcome: Outcome = "ok"
    ) -> None:
        fields: dict[str, object] = {"value": value, "receipt_handle": handle}
        self._op("c", "delete", start_ms, end_ms, outcome, invoke_fields=fields)

    def history(self) -> History:
        return History(self.events)


def test_an_acknowledged_send_never_delivered_is_lost() -> None:
    # Given p-0 and p-1 acknowledged, only p-0 delivered
    b = Builder()
    b.send("p-0", 0, 10)
    b.send("p-1", 20, 30)
    b.receive(40, 50, ["p-0"])
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then p-1 is lost, after the producer's last delivered value
    assert (summary.acknowledged, summary.delivered, summary.lost) == (2, 1, 1)
    assert summary.lost_breakdown.postfix == 1
    assert summary.examples["lost"] == ["p-1"]
    assert not summary.safe


def test_lost_values_are_split_into_prefix_middle_postfix_and_unread_producers() -> None:
    # Given producer p: 0 lost, 1 read, 2 lost, 3 read, 4 lost; producer q: 0 lost, none read
    b = Builder()
    for sequence in range(5):
        b.send(f"p-{sequence}", sequence * 10, sequence * 10 + 5)
    b.send("q-0", 60, 65, process="q")
    b.receive(100, 110, ["p-1", "p-3"])
    # When checked
    breakdown = check(b.history(), min_ops_per_s=0).lost_breakdown
    # Then each lost value is placed relative to what its producer had read
    assert (breakdown.prefix, breakdown.middle, breakdown.postfix) == (1, 1, 1)
    assert breakdown.unread_producer == 1


def test_a_delivered_value_never_sent_is_unexpected() -> None:
    b = Builder()
    b.receive(0, 10, ["ghost-1"])
    summary = check(b.history(), min_ops_per_s=0)
    assert summary.unexpected == 1
    assert not summary.safe


def test_an_unknown_send_that_arrives_is_recovered_and_safe() -> None:
    # Given a send that timed out (info), later delivered and deleted
    b = Builder()
    b.send("p-0", 0, 5000, "info")
    b.receive(6000, 6010, ["p-0"], handles=["h"])
    b.delete("p-0", "h", 6020, 6030)
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then it is recovered, not lost, and nothing is violated
    assert (summary.unknown, summary.recovered, summary.lost) == (1, 1, 0)
    assert summary.safe


def test_an_unknown_send_that_never_arrives_is_not_lost() -> None:
    b = Builder()
    b.send("p-0", 0, 5000, "info")
    summary = check(b.history(), min_ops_per_s=0)
    assert (summary.unknown, summary.recovered, summary.lost) == (1, 0, 0)
    assert summary.safe


def test_a_send_in_flight_when_the_run_ended_counts_as_unknown() -> None:
    b = Builder()
    b.send("p-0", 0, 10)
    b._op("p", "send", 20, None, "ok", invoke_fields={"value": "p-1"})
    summary = check(b.history(), min_ops_per_s=0)
    assert (summary.acknowledged, summary.unknown) == (1, 1)


def test_a_definitely_failed_send_that_is_delivered_is_g1a() -> None:
    b = Builder()
    b.send("p-0", 0, 10, "fail")
    b.receive(20, 30, ["p-0"])
    summary = check(b.history(), min_ops_per_s=0)
    assert summary.g1a == 1
    assert not summary.safe


def test_a_retry_refused_after_an_unknown_attempt_leaves_the_send_unknown_not_g1a() -> None:
    # Given a send that timed out, then a retry with its dedup id refused, and the value delivered
    b = Builder()
    b.send("p-0", 0, 5000, "info", dedup_id="p-0")
    b.send("p-0", 5200, 5210, "fail", dedup_id="p-0")
    b.receive(6000, 6010, ["p-0"])
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then the refusal says nothing of the first attempt: the value is unknown and recovered
    assert (summary.failed, summary.unknown, summary.recovered, summary.g1a) == (0, 1, 1, 0)
    assert summary.safe


def test_redelivery_after_the_lease_expired_without_a_delete_is_a_legal_duplicate() -> None:
    # Given a delivery at ~0 s with a 5 s lease that nobody deletes, and another at 6 s
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 20, ["p-0"], handles=["h1"])
    b.receive(6000, 6010, ["p-0"], handles=["h2"])
    b.delete("p-0", "h2", 6020, 6030)
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then one legal duplicate and no violation
    assert summary.duplicates.after_lease_expiry == 1
    assert summary.duplicates.violations == 0
    assert summary.safe


def test_two_certainly_overlapping_leases_are_a_violation() -> None:
    # Given two deliveries 1 s apart under a 5 s lease
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 20, ["p-0"], handles=["h1"])
    b.receive(1000, 1010, ["p-0"], handles=["h2"], process="c2")
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then the second lease overlapped the first
    assert summary.duplicates.lease_overlap == 1
    assert summary.examples["lease_overlap"] == ["p-0"]
    assert not summary.safe


def test_leases_are_measured_on_the_wall_clock_the_nodes_read() -> None:
    # Given two deliveries 4.9 s apart on the monotonic clock under a 5 s lease, while the
    # host's wall clock (which the nodes stamp leases with) stepped 0.44 s forward between them
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 20, ["p-0"], handles=["h1"])
    b.wall_offset_ms = 440
    b.receive(4900, 4910, ["p-0"], handles=["h2"], process="c2")
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then the lease had expired by the nodes' clock: a legal duplicate, and the step is shown
    assert summary.duplicates.lease_overlap == 0
    assert summary.duplicates.after_lease_expiry == 1
    assert summary.largest_wall_clock_step_ms == 440
    assert "wall clock against the monotonic clock 440 ms" in summary.render()


def test_a_wall_clock_step_back_does_not_hide_an_overlap() -> None:
    # Given two deliveries 5.5 s apart on the monotonic clock, but only 4.5 s apart on the wall
    # clock the nodes read (it stepped back 1 s): by their own clock the lease had not ended
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 20, ["p-0"], handles=["h1"])
    b.wall_offset_ms = -1000
    b.receive(5500, 5510, ["p-0"], handles=["h2"], process="c2")
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then it is an overlap
    assert summary.duplicates.lease_overlap == 1
    assert not summary.safe


def test_a_slow_receive_leaves_room_for_a_legal_order() -> None:
    # Given a receive that took 6 s to answer and another answered at 5.6 s: the slow one may
    # have leased the message just before answering, after the other's lease had ended
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 6000, ["p-0"], handles=["h1"])
    b.receive(500, 5600, ["p-0"], handles=["h2"], process="c2")
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then no overlap is certain
    assert summary.duplicates.lease_overlap == 0
    assert summary.duplicates.after_lease_expiry == 1


def test_redelivery_after_a_confirmed_delete_is_a_violation() -> None:
    # Given a delivery deleted with success, then delivered again after its lease
    b = Builder()
    b.send("p-0", 0, 5)
    b.receive(10, 20, ["p-0"], handles=["h1"])
    b.delete("p-0", "h1", 30, 40)
    b.receive(7000, 7010, ["p-0"], handles=["h2"])
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then the delete was not final
    assert summary.duplicates.after_confirmed_delete == 1
    assert not summary.safe


def test_redelivery_after_an_unknown_or_concurrent_delete_is_legal() -> None:
    # Given p-0's delete timed out (info) and p-1's delete completed only after the next
    # receive had started
    b = Builder()
    b.send("p-0", 0, 5)
    b.send("p-1", 6, 8)
    b.receive(10, 20, ["p-0", "p-1"], handles=["a1", "b1"])
    b.delete("p-0", "a1", 30, 5030, "info")
    b.delete("p-1", "b1", 5040, 7050)
    b.receive(7000, 7010, ["p-0", "p-1"], handles=["a2", "b2"], process="c2")
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then both redeliveries are legal
    assert summary.duplicates.after_uncertain_delete == 2
    assert summary.duplicates.violations == 0


def test_a_message_group_delivered_out_of_send_order_is_a_fifo_inversion() -> None:
    # Given a acknowledged before b was sent, in one group, and b delivered before a's
    # receive even started
    b = Builder()
    b.send("p-0", 0, 10, group="g")
    b.send("p-1", 20, 30, group="g")
    b.receive(40, 50, ["p-1"])
    b.receive(60, 70, ["p-0"])
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then that is one inversion
    assert summary.fifo_inversions == 1
    assert summary.examples["fifo_inversion"] == ["p-1"]


def test_concurrent_sends_to_a_group_may_be_delivered_in_either_order() -> None:
    b = Builder()
    b.send("p-0", 0, 30, group="g")
    b.send("q-0", 10, 20, group="g", process="q")
    b.receive(40, 50, ["p-0"])
    b.receive(60, 70, ["q-0"])
    assert check(b.history(), min_ops_per_s=0).fifo_inversions == 0


def test_one_dedup_id_answered_with_two_message_ids_is_a_violation() -> None:
    b = Builder()
    b.send("p-0", 0, 10, dedup_id="d", message_id="m1")
    b.send("p-1", 20, 30, dedup_id="d", message_id="m2")
    summary = check(b.history(), min_ops_per_s=0)
    assert summary.dedup_violations == 1
    assert not summary.safe


def test_a_repeated_dedup_id_answered_with_the_first_message_id_is_fine() -> None:
    b = Builder()
    b.send("p-0", 0, 10, dedup_id="d", message_id="m1")
    b.send("p-0", 20, 30, dedup_id="d", message_id="m1")
    b.receive(40, 50, ["p-0"], message_ids=["m1"])
    summary = check(b.history(), min_ops_per_s=0)
    assert summary.dedup_violations == 0
    assert summary.safe


def test_a_value_delivered_under_another_message_id_than_its_send_is_a_violation() -> None:
    # Given a send without a dedup id answered with m1, and its value delivered as m2 (a second
    # copy, say one a dead-letter forward stored twice)
    b = Builder()
    b.send("p-0", 0, 10, message_id="m1")
    b.receive(40, 50, ["p-0"], message_ids=["m2"])
    # When checked
    summary = check(b.history(), min_ops_per_s=0)
    # Then that is an identity violation
    assert summary.dedup_violations == 1
    assert summary.examples["dedup"] == ["p-0"]
    assert not summary.safe


def test_a_value_whose_send_outcome_is_unknown_may_arrive_under_one_message_id() -> None:
    b = Builder()
    b.send("p-0", 0, 5000, "info")
    b.receive(5100, 5110, ["p-0"], message_ids=["m9"])
    b.receive(12000, 12010, ["p-0"], message_ids=["m9"])
    assert check(b.history(), min_ops_per_s=0).dedup_violations == 0


def test_rates_windows_and_the_load_floor() -> None:
    # Given 4 operations over 2 s, with acknowledged sends at 0.1 s and 2 s
    b = Builder()
    b.send("p-0", 0, 100)
    b.receive(100, 1600, ["p-0"], handles=["h0"])
    b.delete("p-0", "h0", 1600, 1700)
    b.send("p-1", 100, 2000)
    # When checked against a floor of 100 operations per second
    summary = check(b.history(), min_ops_per_s=100)
    # Then the rate is 2 ops/s, the longest quiet window 1.9 s, and the run is invalid
    assert summary.duration_s == 2.0
    assert summary.ops_per_s == 2.0
    assert summary.longest_without_acknowledged_send_s == 1.9
    assert summary.operations["send"] == {"ok": 2}
    assert not summary.valid
    assert "INVALID" in summary.render()


def test_the_drain_after_the_last_send_does_not_count_towards_the_rates() -> None:
    # Given 10 sends in 1 s, then a drain that takes 9 s to receive and delete them
    b = Builder()
    for i in range(10):
        b.send(f"p-{i}", i * 100, i * 100 + 100)
    for i in range(10):
        b.receive(1000 + i * 900, 1000 + i * 900 + 400, [f"p-{i}"], handles=[f"h{i}"])
        b.delete(f"p-{i}", f"h{i}", 1400 + i * 900, 1900 + i * 900)
    # When checked
    summary = check(b.history(), min_ops_per_s=10)
    # Then the rates are those of the workload's first second, and the whole run lasted 10 s
    assert summary.ops_per_s == 10.0
    assert summary.acknowledged_sends_per_s == 10.0
    assert summary.duration_s == 10.0
    assert summary.valid

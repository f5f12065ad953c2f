"""Which single sends the SDK sends as their bytes (`application/octet-stream`)."""

from __future__ import annotations

from raftq.client.batch_entries import SendEntry, raw_send, send_payload


def body_of(entry: SendEntry) -> dict[str, object]:
    return {k: v for k, v in send_payload(entry).items() if k != "dedup_id"}


def test_a_binary_body_without_attributes_goes_as_bytes_with_its_options() -> None:
    raw = raw_send(body_of(SendEntry(b"\x00\xff", delay_s=5, priority=3)))
    assert raw == (b"\x00\xff", {"priority": "3", "delay_s": "5"})
    raw = raw_send(body_of(SendEntry(b"\x00", group_id="g")))
    assert raw == (b"\x00", {"priority": "0", "group_id": "g"})


def test_text_attributes_and_trace_context_go_as_json() -> None:
    assert raw_send(body_of(SendEntry("text"))) is None
    attributes = {"k": {"type": "String", "value": "v"}}
    assert raw_send(body_of(SendEntry(b"\x00", attributes=attributes))) is None
    traced = SendEntry(
        b"\x00", trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    )
    assert raw_send(body_of(traced)) is None

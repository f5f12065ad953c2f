"""The call context (raftq/common/call_context.py, channel_request.py): a request's id and trace
context travel with its command to the leader, and a value that breaks the rules is dropped."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from raftq.common import call_context, channel_request, codec
from raftq.common.call_context import CallContext
from raftq.common.channel_request import ChannelRequest
from raftq.common.commands import ListQueues

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _decoded(payload: bytes) -> ChannelRequest:
    call = channel_request.decode(payload)
    assert isinstance(call, ChannelRequest), call
    return call


def test_the_context_travels_with_the_command_to_the_leader() -> None:
    # Given a request with an id and a trace context
    context = CallContext().with_request_id("req-1").with_trace(PARENT, "vendor=1")
    # When the frontend sends its command, then the leader reads the same context
    call = _decoded(channel_request.encode(ListQueues(now_ms=0), 0, context))
    assert call.context == context


def test_an_empty_context_is_not_sent_at_all() -> None:
    payload = channel_request.encode(ListQueues(now_ms=0), 5)
    assert len(msgpack.unpackb(payload)) == 2
    assert _decoded(payload).context == call_context.EMPTY


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param({"rid": "x" * 129}, call_context.EMPTY, id="id too long"),
        pytest.param({"rid": "a\nb"}, call_context.EMPTY, id="id with a newline"),
        pytest.param({"rid": 7}, call_context.EMPTY, id="id not a string"),
        pytest.param(
            {"tp": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},
            call_context.EMPTY,
            id="all-zero trace id",
        ),
        pytest.param({"tp": PARENT.upper()}, call_context.EMPTY, id="upper-case hex"),
        pytest.param({"ts": "vendor=1"}, call_context.EMPTY, id="tracestate without a parent"),
        pytest.param(
            {"tp": PARENT, "ts": "\x00"},
            CallContext(traceparent=PARENT),
            id="control character in tracestate",
        ),
        pytest.param("not a map", call_context.EMPTY, id="not a map"),
    ],
)
def test_a_context_value_that_breaks_the_rules_is_dropped(
    wire: object, expected: CallContext
) -> None:
    # Given a channel request whose context carries a hostile value
    payload = msgpack.packb([0, codec.encode(ListQueues(now_ms=0)), wire], use_bin_type=True)
    # When the leader decodes it, then the request stands and only the bad values are gone
    call = _decoded(payload)
    assert call.context == expected
    assert call.command.kind == "list_queues"


async def test_each_task_has_its_own_current_context() -> None:
    # Given two concurrent requests, each binding its own context
    seen: dict[str, CallContext] = {}

    async def serve(request_id: str) -> None:
        with call_context.bound(CallContext().with_request_id(request_id)):
            await asyncio.sleep(0)
            seen[request_id] = call_context.current()

    await asyncio.gather(serve("a"), serve("b"))
    # Then each saw its own, and none is current after them
    assert {key: value.request_id for key, value in seen.items()} == {"a": "a", "b": "b"}
    assert call_context.current() == call_context.EMPTY

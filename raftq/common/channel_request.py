"""The payload of a channel REQUEST frame: the msgpack array `[wait_ms, command bytes]`, or
`[wait_ms, command bytes, context]` when the call has a context (call_context.py: the request id
and trace context, a map of short keys; a context that fails its rules is dropped, not refused).

The command bytes are `codec.encode(command)`, made once by the frontend from validated
models. The leader reads them only as far as `encoded_command.peek` does and splices them into
its Raft entry as they are (the validate-once rule in codec.py). A msgpack map instead of the
array is a whole `NodeRequest`, as `POST /v1/commands` takes, and is decoded as one: that is
what frontends sent before this format, so a node serves both while frontends are upgraded.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from raftq.common import call_context, codec, limits
from raftq.common.call_context import CallContext
from raftq.common.commands import AnyCommand
from raftq.common.encoded_command import EncodedCommand, peek
from raftq.common.errors import DecodeError
from raftq.common.node_api import NodeRequest


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    command: EncodedCommand
    # Long poll: a receive that finds nothing waits up to this long for a message.
    wait_ms: int
    context: CallContext = call_context.EMPTY


def encode(
    command: AnyCommand, wait_ms: int = 0, context: CallContext = call_context.EMPTY
) -> bytes:
    wire_context = call_context.to_wire(context)
    fields: list[object] = [wait_ms, codec.encode(command)]
    if wire_context is not None:
        fields.append(wire_context)
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def decode(payload: bytes) -> ChannelRequest | NodeRequest:
    """The request in `payload`, or `DecodeError` naming the field that is wrong."""
    data = codec.unpack(payload)
    if isinstance(data, dict):
        return codec.decode(payload, NodeRequest)
    if not isinstance(data, tuple) or len(data) not in (2, 3):
        raise DecodeError("a channel request is [wait_ms, command, context?]", raw=payload)
    wait_ms, command = data[0], data[1]
    context = call_context.from_wire(data[2]) if len(data) == 3 else call_context.EMPTY
    if type(wait_ms) is not int or not 0 <= wait_ms <= limits.RECEIVE_WAIT_MAX_MS:
        raise DecodeError(
            f"wait_ms must be an integer from 0 to {limits.RECEIVE_WAIT_MAX_MS}",
            raw=payload,
            field="wait_ms",
        )
    if not isinstance(command, bytes):
        raise DecodeError("the command must be msgpack bytes", raw=payload, field="command")
    return ChannelRequest(command=peek(command), wait_ms=wait_ms, context=context)

"""What a request carries from the edge to the leader beside its command: the request id that
logs name it by, and the W3C trace context (`traceparent`, `tracestate`) its spans join.

One `CallContext` is current per asyncio task (a `ContextVar`): the frontend binds it when a
request arrives, the channel client sends it with the command (channel_request.py), and the
backend binds it again while it serves that command. Values from the wire are checked here, once:
a value that breaks the rules below is dropped (a request is never refused for its context), so
a hostile id cannot reach a log line or a span.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

# Request ids: what clients send in X-Request-Id is commonly a UUID or a similar token; 128
# characters of a conservative alphabet cover those and keep log lines and headers safe.
REQUEST_ID_MAX_CHARS = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# W3C Trace Context, level 1: version 00, 32 hex trace id, 16 hex parent id, 2 hex flags; the
# all-zero ids are invalid. tracestate is at most 32 list members, 512 characters in practice.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
TRACESTATE_MAX_CHARS = 512
_TRACESTATE = re.compile(r"[\x20-\x7e]{1,512}")


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    def with_request_id(self, request_id: str | None) -> CallContext:
        return replace(self, request_id=valid_request_id(request_id))

    def with_trace(self, traceparent: str | None, tracestate: str | None) -> CallContext:
        parent = valid_traceparent(traceparent)
        return replace(
            self, traceparent=parent, tracestate=valid_tracestate(tracestate) if parent else None
        )


EMPTY = CallContext()
_CURRENT: ContextVar[CallContext] = ContextVar("raftq_call_context", default=EMPTY)


def current() -> CallContext:
    return _CURRENT.get()


@contextmanager
def bound(context: CallContext) -> Iterator[CallContext]:
    """`context` is current inside the block, and the one before it again after."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def valid_request_id(value: object) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def valid_traceparent(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return value


def valid_tracestate(value: object) -> str | None:
    return value if isinstance(value, str) and _TRACESTATE.fullmatch(value) else None


# On the wire (channel_request.py) the context is a msgpack map with short keys, and only the
# keys that are set: an empty context is not sent at all.
_WIRE_KEYS = (("rid", "request_id"), ("tp", "traceparent"), ("ts", "tracestate"))


def to_wire(context: CallContext) -> dict[str, str] | None:
    wire = {
        key: value
        for key, attribute in _WIRE_KEYS
        if (value := getattr(context, attribute)) is not None
    }
    return wire or None


def from_wire(data: Any) -> CallContext:
    """The context in `data`, keeping only the values that pass the rules above."""
    if not isinstance(data, Mapping):
        return EMPTY
    return CallContext().with_request_id(data.get("rid")).with_trace(data.get("tp"), data.get("ts"))

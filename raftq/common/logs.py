"""Log lines of every raftq process: one schema, as JSON lines or as one readable line each.

The schema (docs/logging.md), every key on every JSON line, null when it does not apply:

    time        RFC 3339, UTC, milliseconds ("2026-12-04T19:54:15.123Z")
    level       debug | info | warning | error | critical
    node        the process: a node id, a frontend's name, a worker's id
    component   where in it: "frontend", "backend.raft", "metadata.channel", …
    request_id  the request being served (common/call_context.py), from the client or made here
    queue       a queue NAME (never an internal queue id), from `extra={"queue": name}`
    event       a stable snake_case name for what happened (`started`, `leader_changed`, …)
    message     the sentence for people
    error       {"type", "message"} of the error; "stack" too for an unexpected one

Call sites say what happened with `extra={"event": ..., "queue": ...}`. An error goes in
`exc_info=` when its traceback helps (unexpected failures, 5xx) and in `extra={"error": error}`
when it does not (a refused signature, a peer that is down). Rules kept here:
- One record is one line: the JSON encoder escapes every control character, and the human
  format escapes them in what it prints, so a hostile message cannot forge a line.
- Nothing here reads a value that is not already in the record or the call context: a log
  call costs no I/O beyond its handler's write.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any, Final

from raftq.common import call_context

SCHEMA: Final = (
    "time",
    "level",
    "node",
    "component",
    "request_id",
    "queue",
    "event",
    "message",
    "error",
)
# Sub-packages of raftq that name no subsystem of their own in `component`.
_TRANSPARENT_PACKAGES: Final = frozenset({"raftq", "common", "client"})
# C0 controls, DEL, and the characters some readers take for line ends.
_UNPRINTABLE: Final = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, 0x85)},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def component_of(logger_name: str, process: str) -> str:
    """`raftq.raft.node` in a backend -> "backend.raft"; `raftq.frontend.sqs.server` ->
    "frontend.sqs"; `raftq.frontend.main` -> "frontend"; `aiohttp.access` -> "frontend.aiohttp".
    The process's own package adds nothing; any other package (or library) names the part."""
    parts = [part for part in logger_name.split(".") if part not in _TRANSPARENT_PACKAGES]
    if parts and parts[0] == process:
        parts = parts[1:2] if len(parts) > 2 else []  # a sub-package of the process's own
    return f"{process}.{parts[0]}" if parts else process


def timestamp(created_s: float) -> str:
    moment = datetime.fromtimestamp(created_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def printable(text: str) -> str:
    """`text` with control characters escaped, so that it stays on one line."""
    return text.translate(_UNPRINTABLE)


class _Fields:
    """What a record says, in the schema's terms."""

    def __init__(self, record: logging.LogRecord, node: str, process: str) -> None:
        self.time = timestamp(record.created)
        self.level = record.levelname.lower()
        self.node = node
        self.component = component_of(record.name, process)
        self.request_id = call_context.current().request_id
        self.queue = _text_or_none(getattr(record, "queue", None))
        self.event = _text_or_none(getattr(record, "event", None))
        self.message = record.getMessage()
        self.error = _error_of(record)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SCHEMA}


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _error_of(record: logging.LogRecord) -> dict[str, str] | None:
    if record.exc_info and record.exc_info[0] is not None:
        kind, error, trace = record.exc_info
        described = {"type": kind.__name__, "message": str(error)}
        described["stack"] = "".join(traceback.format_exception(kind, error, trace)).rstrip()
        return described
    given: object = getattr(record, "error", None)  # extra={"error": ...}
    if isinstance(given, BaseException):
        return {"type": type(given).__name__, "message": str(given)}
    if given is not None:
        return {"type": "error", "message": str(given)}
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with exactly the keys of `SCHEMA`, in that order."""

    def __init__(self, *, node: str, process: str) -> None:
        super().__init__()
        self._node = node
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        fields = _Fields(record, self._node, self._process)
        # ensure_ascii: every control and non-ASCII character escaped, so a line is one line.
        return json.dumps(fields.as_dict(), ensure_ascii=True, default=str)


class HumanFormatter(logging.Formatter):
    """`TIME LEVEL COMPONENT NODE EVENT [REQUEST_ID] queue=Q: MESSAGE (error: TYPE: MESSAGE)`,
    then an unexpected error's stack on the lines below, indented."""

    def __init__(self, *, node: str, process: str) -> None:
        super().__init__()
        self._node = node
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        fields = _Fields(record, self._node, self._process)
        head = [fields.time, f"{fields.level.upper():<7}", fields.component, fields.node]
        if fields.event is not None:
            head.append(fields.event)
        if fields.request_id is not None:
            head.append(f"[{fields.request_id}]")
        if fields.queue is not None:
            head.append(f"queue={fields.queue}")
        line = f"{printable(' '.join(head))}: {printable(fields.message)}"
        if fields.error is None:
            return line
        kind, said = fields.error["type"], fields.error["message"]
        # A message that quotes its error already ("could not report: no leader yet") gets
        # only the error's type.
        described = kind if said and said in fields.message else f"{kind}: {said}"
        line += f" (error: {printable(described)})"
        stack = fields.error.get("stack")
        if stack is None:
            return line
        return line + "".join(f"\n    {printable(part)}" for part in stack.splitlines())

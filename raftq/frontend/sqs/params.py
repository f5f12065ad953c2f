"""Typed access to a request's members, with SQS's errors for missing and malformed ones.

Both protocols hand the actions a JSON-shaped dict; the query protocol's integers are already
ints (query_protocol.py), so one set of checks serves both. A member of the wrong JSON type is
refused, never converted."""

from __future__ import annotations

from typing import Any, Final

from raftq.common.errors import InvalidParameter, MissingParameter

_SHOWN_MAX: Final = 64


class Params:
    def __init__(self, members: dict[str, Any]) -> None:
        self.members = members

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def text(self, name: str, *, max_chars: int = 1024) -> str:
        value = self.optional_text(name, max_chars=max_chars)
        if value is None:
            raise MissingParameter(f"The request must contain the parameter {name}.", field=name)
        return value

    def optional_text(self, name: str, *, max_chars: int = 1024) -> str | None:
        value = self.members.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _invalid(name, value, "it must be a string")
        if len(value) > max_chars:
            raise _invalid(name, value, f"it is longer than {max_chars} characters")
        return value

    def integer(self, name: str, lowest: int, highest: int) -> int | None:
        value = self.members.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(name, value, "it must be an integer")
        if not lowest <= value <= highest:
            raise InvalidParameter(
                f"Value {value} for parameter {name} is invalid. Reason: it must be between "
                f"{lowest} and {highest}.",
                field=name,
            )
        return value

    def texts(self, name: str, *, max_items: int = 100) -> list[str]:
        value = self.members.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name, value, "it must be a list of strings")
        if len(value) > max_items:
            raise _invalid(name, value, f"it takes at most {max_items} items")
        return value

    def text_map(self, name: str, *, max_items: int = 100) -> dict[str, str]:
        value = self.members.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise _invalid(name, value, "it must map strings to strings")
        if len(value) > max_items:
            raise _invalid(name, value, f"it takes at most {max_items} entries")
        return value

    def entries(self, name: str = "Entries") -> list[dict[str, Any]]:
        value = self.members.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _invalid(name, value, "it must be a list of objects")
        return value


def _invalid(name: str, value: Any, reason: str) -> InvalidParameter:
    """SQS's words for a member it refuses, naming the member (the value shown when short)."""
    shown = value if isinstance(value, int | str) and len(str(value)) <= _SHOWN_MAX else "(given)"
    return InvalidParameter(
        f"Value {shown} for parameter {name} is invalid. Reason: {reason}.", field=name
    )

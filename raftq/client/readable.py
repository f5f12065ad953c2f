"""Values as people read them: durations in seconds (the unit of the CLI's `-s` flags, while the
wire carries milliseconds), instants in UTC, flags as words.

Pure functions of their arguments: no clock is read, so the output of a given value is the same
on every machine and in every time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# Below this a duration in seconds is read at a glance; from here on a hint in larger units
# follows it ("345600 s (4 d)").
HINT_FROM_S: Final = 600
_UNITS: Final = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
NONE: Final = "-"


def duration_s(milliseconds: int | None) -> str:
    """`60 s`, `0.25 s`, `345600 s (4 d)`, `5400 s (1 h 30 min)`; `-` for None."""
    if milliseconds is None:
        return NONE
    seconds = milliseconds / 1000
    text = f"{seconds:g} s" if milliseconds % 1000 else f"{milliseconds // 1000} s"
    if seconds >= HINT_FROM_S:
        text += f" ({_in_large_units(milliseconds // 1000)})"
    return text


def _in_large_units(seconds: int) -> str:
    """The two largest non-zero units: `4 d`, `1 h 30 min`, `2 d 3 h`."""
    parts: list[str] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def timestamp(milliseconds: int | None) -> str:
    """An instant in milliseconds since the epoch as `2026-12-04 19:30:02Z` (UTC, to the
    second); `-` for None."""
    if milliseconds is None:
        return NONE
    instant = datetime.fromtimestamp(milliseconds // 1000, tz=UTC)
    return instant.strftime("%Y-%m-%d %H:%M:%SZ")


def yes_no(flag: bool | None) -> str:
    if flag is None:
        return NONE
    return "yes" if flag else "no"


def plural(count: int, noun: str) -> str:
    """`1 queue`, `3 queues`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

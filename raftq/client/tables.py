"""Plain-text tables and field lists for people reading a terminal (`raftq admin`).

A table's columns are as wide as their widest cell, titles included, two spaces apart; numbers
are right-aligned so their digits line up, everything else left-aligned. A cell is one line: a
newline or tab in a value becomes a space, so a name cannot break the layout. Lines carry no
trailing spaces. No dependency: what a script should parse is `--json`, not this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GAP = "  "


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    align: Literal["left", "right"] = "left"


def left(title: str) -> Column:
    return Column(title, "left")


def right(title: str) -> Column:
    return Column(title, "right")


def one_line(value: str) -> str:
    return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")


def render_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    """The table, titles first, one line per row, without a final newline."""
    cells = [[one_line(cell) for cell in row] for row in rows]
    for row in cells:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns")
    widths = [
        max(len(column.title), *(len(row[i]) for row in cells)) if cells else len(column.title)
        for i, column in enumerate(columns)
    ]
    lines = [_line([c.title for c in columns], columns, widths)]
    lines += [_line(row, columns, widths) for row in cells]
    return "\n".join(lines)


def _line(cells: Sequence[str], columns: Sequence[Column], widths: Sequence[int]) -> str:
    padded = [
        cell.rjust(width) if column.align == "right" else cell.ljust(width)
        for cell, column, width in zip(cells, columns, widths, strict=True)
    ]
    return GAP.join(padded).rstrip()


def render_fields(fields: Sequence[tuple[str, str]]) -> str:
    """One `label  value` line per field, the values aligned in one column."""
    if not fields:
        return ""
    width = max(len(label) for label, _ in fields)
    return "\n".join(
        f"{label.ljust(width)}{GAP}{one_line(value)}".rstrip() for label, value in fields
    )

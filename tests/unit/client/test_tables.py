"""The table renderer: columns as wide as their widest cell, numbers right-aligned."""

from __future__ import annotations

import pytest

from raftq.client.tables import left, render_fields, render_table, right


def test_columns_are_as_wide_as_their_widest_cell_and_two_spaces_apart() -> None:
    # Given cells wider and narrower than their titles
    columns = [left("NAME"), left("STATE")]
    rows = [["orders-1", "active"], ["q", "moving"]]
    # When rendered
    text = render_table(columns, rows)
    # Then every column starts at the same place on every line
    assert text.splitlines() == [
        "NAME      STATE",
        "orders-1  active",
        "q         moving",
    ]


def test_numbers_are_right_aligned_and_lines_carry_no_trailing_spaces() -> None:
    text = render_table(
        [left("GROUP"), right("TERM"), left("ZONE")], [["c1", "7", ""], ["metadata", "12", "a"]]
    )
    assert text.splitlines() == [
        "GROUP     TERM  ZONE",
        "c1           7",
        "metadata    12  a",
    ]
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_table_without_rows_is_its_titles() -> None:
    assert render_table([left("KEY ID"), left("PRINCIPAL")], []) == "KEY ID  PRINCIPAL"


def test_a_newline_or_tab_in_a_value_cannot_break_the_layout() -> None:
    text = render_table([left("A"), left("B")], [["x\ny", "1\t2"]])
    assert text.splitlines() == ["A    B", "x y  1 2"]


def test_a_row_with_the_wrong_number_of_cells_is_refused() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render_table([left("A"), left("B"), left("C")], [["1", "2"]])


def test_fields_align_their_values_in_one_column() -> None:
    text = render_fields([("name", "orders-1"), ("visibility timeout", "60 s"), ("tags", "")])
    assert text.splitlines() == [
        "name                orders-1",
        "visibility timeout  60 s",
        "tags",
    ]
    assert render_fields([]) == ""

"""Message attributes: SQS's naming, typing and size rules."""

from __future__ import annotations

from typing import Any

import pytest

from raftq.common.errors import InvalidAttributeName, InvalidParameter
from raftq.frontend.sqs import message_attributes as attrs


def test_every_data_type_with_custom_labels_round_trips() -> None:
    given = {
        "s": {"DataType": "String", "StringValue": "v"},
        "n": {"DataType": "Number.float", "StringValue": "-1.5e10"},
        "b": {"DataType": "Binary.png", "BinaryValue": "AAE="},
        "a.b-c_d": {"DataType": "String.x", "StringValue": "é"},
    }
    parsed = attrs.parse(given)
    assert attrs.to_sqs(parsed) == given
    # name + data type + value bytes (binary decoded)
    assert attrs.size_of({"b": parsed["b"]}) == 1 + len("Binary.png") + 2


@pytest.mark.parametrize(
    "given",
    [
        {"bad name": {"DataType": "String", "StringValue": "v"}},
        {".dot": {"DataType": "String", "StringValue": "v"}},
        {"a..b": {"DataType": "String", "StringValue": "v"}},
        {"AWS.x": {"DataType": "String", "StringValue": "v"}},
        {"amazon.x": {"DataType": "String", "StringValue": "v"}},
        {"k" * 257: {"DataType": "String", "StringValue": "v"}},
        {"k": {"DataType": "Text", "StringValue": "v"}},
        {"k": {"DataType": "String", "StringValue": ""}},
        {"k": {"DataType": "String"}},
        {"k": {"DataType": "String", "BinaryValue": "AAE="}},
        {"k": {"DataType": "Binary", "BinaryValue": "%%%"}},
        {"k": {"DataType": "Number", "StringValue": "twelve"}},
        {"k": {"DataType": "Number", "StringValue": "1" * 39}},
        {"k": {"DataType": "String", "StringListValues": ["a"]}},
        {"k": {"DataType": "String", "StringValue": "v", "Extra": 1}},
        {"k": "v"},
        {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
    ],
)
def test_malformed_attributes_are_refused(given: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        attrs.parse(given)


def test_receive_picks_attributes_by_name_prefix_or_all() -> None:
    parsed = attrs.parse(
        {n: {"DataType": "String", "StringValue": "v"} for n in ("a.x", "a.y", "b", "c")}
    )
    assert set(attrs.selected(parsed, ["All"])) == {"a.x", "a.y", "b", "c"}
    assert set(attrs.selected(parsed, [".*"])) == {"a.x", "a.y", "b", "c"}
    assert set(attrs.selected(parsed, ["a.*", "c"])) == {"a.x", "a.y", "c"}
    assert attrs.selected(parsed, []) == {}


def test_system_attribute_names_are_checked() -> None:
    assert attrs.check_system_names(["All"], "f") == set(attrs.SYSTEM_NAMES)
    assert attrs.check_system_names(["SenderId"], "f") == {"SenderId"}
    with pytest.raises(InvalidAttributeName):
        attrs.check_system_names(["Colour"], "f")

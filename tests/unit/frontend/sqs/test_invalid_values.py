"""Refusals of raftq's models, told as SQS tells them and never in pydantic's words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raftq.frontend import rest_models as m
from raftq.frontend.sqs.invalid_values import invalid_value

PYDANTIC_PHRASES = ("should match pattern", "validation error", "Input should", "type=")


def _refusal(**fields: object) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        m.SendBatchEntry.model_validate({"id": "e", "body": "x", **fields})
    return raised.value


@pytest.mark.parametrize(
    ("fields", "parameter", "reason"),
    [
        ({"group_id": "a b"}, "MessageGroupId", "characters that are not allowed"),
        ({"dedup_id": "d" * 129}, "MessageDeduplicationId", "at most 128 characters"),
        ({"trace_header": ""}, "AWSTraceHeader", "must not be empty"),
        ({"delay_s": 901}, "DelaySeconds", "out of range"),
    ],
)
def test_a_refused_field_is_named_as_sqs_names_it(
    fields: dict[str, object], parameter: str, reason: str
) -> None:
    error = invalid_value(_refusal(**fields))
    assert error.field == parameter
    assert error.message.startswith("Value ") and f"for parameter {parameter} is invalid." in (
        error.message
    )
    assert f"Reason: it {reason}" in error.message or reason in error.message
    assert not any(phrase in error.message for phrase in PYDANTIC_PHRASES)


def test_the_caller_may_name_the_parameter_and_long_values_are_cut() -> None:
    error = invalid_value(_refusal(group_id="x " * 100), "Entries")
    assert error.field == "Entries"
    assert "..." in error.message and len(error.message) < 200

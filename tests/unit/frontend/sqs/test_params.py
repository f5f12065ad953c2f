"""Members of the wrong type or size are refused in SQS's words, naming the member."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from raftq.common.errors import InvalidParameter
from raftq.frontend.sqs.params import Params


@pytest.mark.parametrize(
    ("members", "read", "message"),
    [
        ({"MessageBody": 5}, lambda p: p.text("MessageBody"),
         "Value 5 for parameter MessageBody is invalid. Reason: it must be a string."),
        ({"WaitTimeSeconds": "5"}, lambda p: p.integer("WaitTimeSeconds", 0, 20),
         "Value 5 for parameter WaitTimeSeconds is invalid. Reason: it must be an integer."),
        ({"AttributeNames": "All"}, lambda p: p.texts("AttributeNames"),
         "Value All for parameter AttributeNames is invalid. Reason: it must be a list of "
         "strings."),
        ({"Entries": [1]}, lambda p: p.entries(),
         "Value (given) for parameter Entries is invalid. Reason: it must be a list of objects."),
    ],
)  # fmt: skip
def test_a_refused_member_is_named(
    members: dict[str, object], read: Callable[[Params], object], message: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        read(Params(members))
    assert refused.value.message == message
    assert refused.value.field == next(iter(members))

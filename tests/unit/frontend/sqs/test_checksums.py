"""The MD5 digests SDKs verify, against digests published by other SQS implementations' tests
and AWS's documentation sample."""

from __future__ import annotations

import pytest

from raftq.frontend.sqs.checksums import md5_hex, md5_of_attributes


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"SellerName": {"DataType": "String", "StringValue": "Example Store"}},
            "cd28f3b68aeee4b2eac9c66f2f694b58",
        ),
        (
            {"timestamp": {"DataType": "Number", "StringValue": "1493147359900"}},
            "235c5c510d26fb653d073faed50ae77c",
        ),
        (
            {
                "ordinal": {"DataType": "Number", "StringValue": "1"},
                "category": {"DataType": "String", "StringValue": "test"},
            },
            "d21ae90c49061e927f57df5f5d72be1f",
        ),
    ],
)
def test_attribute_digest_matches_published_values(
    attributes: dict[str, dict[str, str]], expected: str
) -> None:
    assert md5_of_attributes(attributes) == expected


def test_attribute_digest_does_not_depend_on_order_but_on_every_part() -> None:
    a = {
        "x": {"DataType": "String", "StringValue": "1"},
        "y": {"DataType": "Binary", "BinaryValue": "AAE="},
    }
    reordered = dict(reversed(a.items()))
    assert md5_of_attributes(a) == md5_of_attributes(reordered)
    other_type = {**a, "x": {"DataType": "Number", "StringValue": "1"}}
    other_value = {**a, "y": {"DataType": "Binary", "BinaryValue": "AAI="}}
    assert (
        len({md5_of_attributes(a), md5_of_attributes(other_type), md5_of_attributes(other_value)})
        == 3
    )


def test_body_digest_is_over_utf8() -> None:
    assert md5_hex(b"hello") == "5d41402abc4b2a76b9719d911017c592"

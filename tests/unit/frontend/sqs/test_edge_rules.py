"""The SQS edge's own rules, pure: tag limits, whole-batch refusals, and how the backend's
refusals of a delete or a change of visibility map to what SQS answers."""

from __future__ import annotations

import pytest

from raftq.common import limits
from raftq.common.errors import (
    BatchRequestTooLong,
    InvalidParameter,
    MessageNotInflight,
    MissingParameter,
    RaftqError,
    ReceiptHandleInvalid,
)
from raftq.common.results import EntryFailure
from raftq.frontend.sqs import batch_rules, entry_outcomes
from raftq.frontend.sqs.tags import checked_tag_keys, checked_tags


def failure(error: RaftqError) -> EntryFailure:
    return EntryFailure.of("e", error)


NOT_LATEST = failure(ReceiptHandleInvalid(ReceiptHandleInvalid.NOT_LATEST))
MALFORMED = failure(ReceiptHandleInvalid("the receipt handle is not valid"))
GONE = failure(MessageNotInflight(MessageNotInflight.GONE))
NOT_LEASED = failure(MessageNotInflight(MessageNotInflight.NOT_LEASED))


def test_a_delete_with_an_old_handle_is_accepted_and_a_malformed_one_is_not() -> None:
    assert entry_outcomes.accepted_delete(NOT_LATEST)
    assert not entry_outcomes.accepted_delete(MALFORMED)


def test_a_visibility_change_after_the_lease_ran_out_is_accepted() -> None:
    assert entry_outcomes.accepted_visibility_change(NOT_LEASED)
    for other in (NOT_LATEST, MALFORMED, GONE):
        assert not entry_outcomes.accepted_visibility_change(other)


def test_a_visibility_change_of_a_message_gone_or_received_again_is_invalid_parameter() -> None:
    for refused in (GONE, NOT_LATEST):
        error = entry_outcomes.unavailable_for_visibility(refused, "handle-1")
        assert isinstance(error, InvalidParameter)
        assert "handle-1" in error.message and "not available" in error.message
    assert entry_outcomes.unavailable_for_visibility(MALFORMED, "h") is None


@pytest.mark.parametrize(
    "tags",
    [
        {f"k{i}": "v" for i in range(limits.TAGS_PER_QUEUE_MAX + 1)},
        {"k" * (limits.TAG_KEY_MAX_CHARS + 1): "v"},
        {"": "v"},
        {"AWS:owner": "v"},
        {"k": "v" * (limits.TAG_VALUE_MAX_CHARS + 1)},
    ],
)
def test_tags_over_sqs_limits_are_invalid_parameter_values(tags: dict[str, str]) -> None:
    with pytest.raises(InvalidParameter) as refused:
        checked_tags(tags, "Tags")
    assert refused.value.field == "Tags"


def test_tags_at_sqs_limits_are_taken() -> None:
    tags = {
        f"{i:02}" + "k" * (limits.TAG_KEY_MAX_CHARS - 2): "v" * limits.TAG_VALUE_MAX_CHARS
        for i in range(limits.TAGS_PER_QUEUE_MAX)
    }
    assert checked_tags(tags, "Tags") == tags
    assert checked_tag_keys(list(tags), "TagKeys") == list(tags)
    with pytest.raises(InvalidParameter):
        checked_tag_keys([*tags, "one-more"], "TagKeys")


def test_a_batch_over_the_size_limit_is_refused_even_with_one_entry() -> None:
    at_limit = {"Id": "a", "MessageBody": "x" * limits.MESSAGE_SIZE_MAX_BYTES}
    batch_rules.check_batch_size([at_limit])
    with pytest.raises(BatchRequestTooLong):
        batch_rules.check_batch_size([at_limit | {"MessageBody": at_limit["MessageBody"] + "x"}])
    attribute = {"a": {"DataType": "String", "StringValue": "v"}}  # 1 + 6 + 1 bytes
    with pytest.raises(BatchRequestTooLong):
        batch_rules.check_batch_size([at_limit | {"MessageAttributes": attribute}])


def test_a_fifo_batch_needs_every_group_id_and_a_dedup_id_unless_content_based() -> None:
    good = {"Id": "a", "MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "d"}
    batch_rules.check_fifo_batch_ids([good], content_based_dedup=False)
    no_group = {k: v for k, v in good.items() if k != "MessageGroupId"}
    no_dedup = {k: v for k, v in good.items() if k != "MessageDeduplicationId"}
    with pytest.raises(MissingParameter):
        batch_rules.check_fifo_batch_ids([good, no_group], content_based_dedup=True)
    with pytest.raises(InvalidParameter):
        batch_rules.check_fifo_batch_ids([good, no_dedup], content_based_dedup=False)
    batch_rules.check_fifo_batch_ids([good, no_dedup], content_based_dedup=True)

"""SQS's tag rules, checked before a tag reaches a metadata command.

The commands' models hold the same limits (raftq/common/limits.py), but a model refusing a value
is a bug at the edge, not an answer: every refusal here is `InvalidParameterValue`, naming the
tag, as SQS answers it."""

from __future__ import annotations

from raftq.common import limits
from raftq.common.errors import InvalidParameter


def checked_tags(tags: dict[str, str], field: str) -> dict[str, str]:
    """`tags` if SQS would take them: at most 50, keys of 1-128 characters that do not start
    with `aws:`, values of at most 256 characters."""
    if len(tags) > limits.TAGS_PER_QUEUE_MAX:
        raise InvalidParameter(
            f"Too many tags: a queue takes at most {limits.TAGS_PER_QUEUE_MAX}, and the request "
            f"has {len(tags)}.",
            field=field,
        )
    checked_tag_keys(list(tags), field)
    for key, value in tags.items():
        if len(value) > limits.TAG_VALUE_MAX_CHARS:
            raise InvalidParameter(
                f"The value of tag {key[:64]!r} is longer than {limits.TAG_VALUE_MAX_CHARS} "
                "characters.",
                field=field,
            )
    return tags


def checked_tag_keys(keys: list[str], field: str) -> list[str]:
    if len(keys) > limits.TAGS_PER_QUEUE_MAX:
        raise InvalidParameter(
            f"Too many tag keys: a queue has at most {limits.TAGS_PER_QUEUE_MAX} tags, and the "
            f"request names {len(keys)}.",
            field=field,
        )
    for key in keys:
        if not 1 <= len(key) <= limits.TAG_KEY_MAX_CHARS:
            raise InvalidParameter(
                f"Tag key {key[:64]!r} must be 1 to {limits.TAG_KEY_MAX_CHARS} characters long.",
                field=field,
            )
        if key.lower().startswith(limits.TAG_KEY_RESERVED_PREFIX):
            raise InvalidParameter(
                f"Tag key {key[:64]!r} uses the reserved prefix "
                f"{limits.TAG_KEY_RESERVED_PREFIX!r}.",
                field=field,
            )
    return keys

"""Checks shared by every batch command."""

from __future__ import annotations

from collections.abc import Iterable

from raftq.common.errors import BatchEntryIdsNotDistinct


def require_distinct_entry_ids(entry_ids: Iterable[str]) -> None:
    """SQS fails a whole batch whose entries repeat an id."""
    listed = list(entry_ids)
    if len(set(listed)) != len(listed):
        raise BatchEntryIdsNotDistinct(
            "two entries of the batch share an entry id", field="entries"
        )

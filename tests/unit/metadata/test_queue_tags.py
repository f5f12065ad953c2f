"""Queue tags (SQS TagQueue / UntagQueue / tags at CreateQueue) in the metadata state machine."""

from __future__ import annotations

import pytest

from raftq.common import limits
from raftq.common.metadata_api import CreateQueueRequest
from raftq.common.metadata_commands import (
    ActivateQueue,
    BeginDeleteQueue,
    CreateQueue,
    TagQueue,
    UntagQueue,
)
from raftq.common.metadata_models import Placement
from raftq.common.metadata_results import QueueResult
from raftq.common.results import Failure
from raftq.metadata.state import MetadataState
from tests.unit.metadata.test_metadata_state_machine import Metadata

NOW = 1_700_000_000_000


@pytest.fixture
def metadata() -> Metadata:
    m = Metadata()
    m.register()
    m.create("orders", "q-1")
    m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name="orders", queue_id="q-1"))
    return m


def _tag(tags: dict[str, str], name: str = "orders") -> TagQueue:
    return TagQueue(now_ms=NOW, actor="alice", name=name, tags=tags)


def _untag(*keys: str, name: str = "orders") -> UntagQueue:
    return UntagQueue(now_ms=NOW, actor="alice", name=name, keys=keys)


def _many(count: int, prefix: str = "k") -> dict[str, str]:
    return {f"{prefix}{i}": str(i) for i in range(count)}


def test_tags_merge_overwriting_a_key_and_untag_ignores_missing_keys(metadata: Metadata) -> None:
    # Given a queue tagged team=a, env=dev
    metadata.run(_tag({"team": "a", "env": "dev"}))
    # When it is tagged env=prod, cost=""
    merged = metadata.run(_tag({"env": "prod", "cost": ""}))
    # Then the new value wins and the other tags stay
    assert isinstance(merged, QueueResult) and merged.changed
    assert merged.queue.tags == {"cost": "", "env": "prod", "team": "a"}
    # When tags are removed by key, one of them unknown
    untagged = metadata.run(_untag("team", "never-set"))
    assert isinstance(untagged, QueueResult)
    assert metadata.machine.state.queues["orders"].tags == {"cost": "", "env": "prod"}
    # Then removing only unknown keys, or setting what is there, changes nothing
    for again in (_untag("never-set"), _tag({"env": "prod"})):
        unchanged = metadata.run(again)
        assert isinstance(unchanged, QueueResult) and not unchanged.changed


def test_tags_given_at_creation_land_on_the_queue_and_a_repeat_creation_keeps_them(
    metadata: Metadata,
) -> None:
    def create(tags: dict[str, str], queue_id: str) -> object:
        return metadata.run(
            CreateQueue(
                now_ms=metadata.now_ms,
                actor="alice",
                queue_id=queue_id,
                name="billing",
                placement=Placement(cluster_id="c1", epoch=1),
                tags=tags,
            )
        )

    created = create({"team": "a"}, "q-2")
    assert isinstance(created, QueueResult) and created.queue.tags == {"team": "a"}
    # Like SQS, a creation that finds the queue compares attributes only and leaves the tags.
    again = create({"team": "b"}, "q-3")
    assert isinstance(again, QueueResult) and not again.changed
    assert metadata.machine.state.queues["billing"].tags == {"team": "a"}
    assert CreateQueueRequest(actor="a", name="x").tags == {}
    assert CreateQueueRequest(actor="a", name="x", tags={"t": "v"}).tags == {"t": "v"}


def test_fifty_tags_fit_and_a_merge_past_fifty_is_refused_changing_nothing(
    metadata: Metadata,
) -> None:
    # Given a queue with 49 tags
    metadata.run(_tag(_many(limits.TAGS_PER_QUEUE_MAX - 1)))
    # When one more is added, it fits (50)
    at_limit = metadata.run(_tag({"last": "x"}))
    assert isinstance(at_limit, QueueResult)
    assert len(at_limit.queue.tags) == limits.TAGS_PER_QUEUE_MAX
    # And overwriting a tag at the limit still fits
    assert isinstance(metadata.run(_tag({"last": "y", "k0": "z"})), QueueResult)
    before = metadata.machine.state.to_bytes()
    # When a 51st key is added, alone or with keys it has
    for over in ({"extra": "x"}, {"k1": "new", "extra": "x"}):
        refused = metadata.run(_tag(over))
        # Then it is refused as too many tags, and nothing changed
        assert isinstance(refused, Failure)
        assert (refused.code, refused.field) == ("InvalidParameterValue", "tags")
        assert "too many tags" in refused.message
        assert metadata.machine.state.to_bytes() == before


def test_tagging_an_unknown_or_deleting_queue_is_refused_changing_nothing(
    metadata: Metadata,
) -> None:
    before = metadata.machine.state.to_bytes()
    for command in (_tag({"a": "b"}, name="nowhere"), _untag("a", name="nowhere")):
        refused = metadata.run(command)
        assert isinstance(refused, Failure) and refused.code == "QueueDoesNotExist"
        assert metadata.machine.state.to_bytes() == before
    metadata.run(BeginDeleteQueue(now_ms=NOW, actor="root", name="orders"))
    before = metadata.machine.state.to_bytes()
    for command in (_tag({"a": "b"}), _untag("a")):
        refused = metadata.run(command)
        assert isinstance(refused, Failure) and refused.code == "ConflictingState"
        assert metadata.machine.state.to_bytes() == before


def test_tag_limits_at_the_boundary_are_accepted_by_the_models() -> None:
    key, value = "k" * limits.TAG_KEY_MAX_CHARS, "v" * limits.TAG_VALUE_MAX_CHARS
    assert _tag({key: value, "empty-value": ""}).tags[key] == value
    assert len(_tag(_many(limits.TAGS_PER_QUEUE_MAX)).tags) == limits.TAGS_PER_QUEUE_MAX
    assert _untag(*_many(limits.TAGS_PER_QUEUE_MAX)).keys[0] == "k0"
    assert _tag({"awsome": "x", "x-aws:": "y"}).tags["awsome"] == "x"  # only the prefix is taken


@pytest.mark.parametrize(
    "tags",
    [
        {"": "empty key"},
        {"k" * (limits.TAG_KEY_MAX_CHARS + 1): "long key"},
        {"long-value": "v" * (limits.TAG_VALUE_MAX_CHARS + 1)},
        {"aws:owner": "reserved"},
        {"AWS:Owner": "reserved in any case"},
        _many(limits.TAGS_PER_QUEUE_MAX + 1),
        _many(10_000),
        {},  # TagQueue names at least one tag
    ],
    ids=["empty key", "key 129", "value 257", "aws:", "AWS:", "51 tags", "10k tags", "none"],
)
def test_hostile_tag_maps_never_reach_the_state_machine(tags: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        _tag(tags)
    if tags:
        with pytest.raises(ValueError):
            CreateQueueRequest(actor="a", name="x", tags=tags)
        with pytest.raises(ValueError):
            CreateQueue(
                now_ms=NOW,
                actor="a",
                queue_id="q",
                name="x",
                placement=Placement(cluster_id="c1", epoch=1),
                tags=tags,
            )


def test_hostile_untag_requests_never_reach_the_state_machine() -> None:
    for keys in ((), ("",), ("k" * (limits.TAG_KEY_MAX_CHARS + 1),), tuple(_many(51))):
        with pytest.raises(ValueError):
            _untag(*keys)


def test_equal_tag_sets_give_equal_snapshots_whatever_their_order(metadata: Metadata) -> None:
    other = Metadata()
    other.register()
    other.create("orders", "q-1")
    other.run(ActivateQueue(now_ms=other.now_ms, actor="alice", name="orders", queue_id="q-1"))
    metadata.run(_tag({"b": "2", "a": "1"}))
    other.run(_tag({"a": "1"}))
    other.run(_tag({"b": "2"}))
    for m in (metadata, other):
        m.machine.state.audit.clear()
    assert metadata.machine.state.to_bytes() == other.machine.state.to_bytes()
    restored = MetadataState.from_bytes(metadata.machine.state.to_bytes())
    assert restored.queues["orders"].tags == {"a": "1", "b": "2"}
    assert list(restored.queues["orders"].tags) == ["a", "b"]

"""SQS RedriveAllowPolicy: which queues may name a queue as their dead-letter queue."""

from __future__ import annotations

import pytest

from raftq.common import limits
from raftq.common.metadata_commands import (
    ActivateQueue,
    BeginDeleteQueue,
    SetQueueAttributes,
    SetRedriveAllowPolicy,
)
from raftq.common.metadata_models import RedriveAllowPolicy
from raftq.common.metadata_results import QueueResult
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy
from raftq.common.results import Failure
from tests.unit.metadata.test_metadata_state_machine import Metadata

NOW = 1_700_000_000_000


@pytest.fixture
def metadata() -> Metadata:
    """Queues `dlq`, `orders` and `billing`, active."""
    m = Metadata()
    m.register()
    for i, name in enumerate(("dlq", "orders", "billing")):
        m.create(name, f"q-{i}")
        m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name=name, queue_id=f"q-{i}"))
    return m


def _allow(policy: RedriveAllowPolicy | None, name: str = "dlq") -> SetRedriveAllowPolicy:
    return SetRedriveAllowPolicy(now_ms=NOW, actor="alice", name=name, policy=policy)


def _point(source: str, dlq: str = "dlq", **attributes: object) -> SetQueueAttributes:
    return SetQueueAttributes(
        now_ms=NOW,
        actor="alice",
        name=source,
        attributes=QueueAttributes.model_validate(
            {"redrive": RedrivePolicy(dead_letter_queue=dlq), **attributes}
        ),
    )


def _refused_as_invalid_dlq(metadata: Metadata, result: object, before: bytes) -> None:
    assert isinstance(result, Failure)
    assert (result.code, result.field) == ("InvalidDeadLetterQueue", "redrive")
    assert metadata.machine.state.to_bytes() == before


def test_by_queue_lets_listed_sources_in_and_refuses_others(metadata: Metadata) -> None:
    # Given a DLQ that allows `orders` only
    allowed = metadata.run(
        _allow(RedriveAllowPolicy(permission="byQueue", source_queues=("orders",)))
    )
    assert isinstance(allowed, QueueResult) and allowed.changed
    # Then `orders` may point at it, at SetQueueAttributes and at creation
    assert isinstance(metadata.run(_point("orders")), QueueResult)
    before = metadata.machine.state.to_bytes()
    # And `billing` may not, at SetQueueAttributes or at creation, and nothing changes
    _refused_as_invalid_dlq(metadata, metadata.run(_point("billing")), before)
    created = metadata.create("audit", "q-9", redrive={"dead_letter_queue": "dlq"})
    _refused_as_invalid_dlq(metadata, created, before)


def test_a_source_listed_by_name_may_be_created_pointing_at_the_dlq(metadata: Metadata) -> None:
    metadata.run(_allow(RedriveAllowPolicy(permission="byQueue", source_queues=("audit",))))
    created = metadata.create("audit", "q-9", redrive={"dead_letter_queue": "dlq"})
    assert isinstance(created, QueueResult) and created.queue.attributes.redrive is not None


def test_deny_all_refuses_every_source_and_allow_all_or_none_allows_any(metadata: Metadata) -> None:
    metadata.run(_allow(RedriveAllowPolicy(permission="denyAll")))
    before = metadata.machine.state.to_bytes()
    _refused_as_invalid_dlq(metadata, metadata.run(_point("orders")), before)
    for policy in (RedriveAllowPolicy(permission="allowAll"), None):
        metadata.run(_allow(policy))
        assert metadata.machine.state.queues["dlq"].redrive_allow == policy
        assert isinstance(metadata.run(_point("orders")), QueueResult)


def test_a_policy_set_on_a_dlq_does_not_cut_off_sources_already_pointing_at_it(
    metadata: Metadata,
) -> None:
    # Given `orders` dead-letters to `dlq`, which then denies every source
    metadata.run(_point("orders"))
    metadata.run(_allow(RedriveAllowPolicy(permission="denyAll")))
    # Then `orders` keeps its policy, and may change its other attributes and its receive count
    changed = metadata.run(_point("orders", delay_ms=5))
    assert isinstance(changed, QueueResult) and changed.queue.attributes.delay_ms == 5
    assert changed.queue.attributes.redrive == RedrivePolicy(dead_letter_queue="dlq")
    # But once it points elsewhere, it may not come back
    metadata.run(_point("orders", dlq="billing"))
    before = metadata.machine.state.to_bytes()
    _refused_as_invalid_dlq(metadata, metadata.run(_point("orders")), before)


def test_setting_a_policy_on_an_unknown_or_deleting_queue_is_refused(metadata: Metadata) -> None:
    deny = RedriveAllowPolicy(permission="denyAll")
    before = metadata.machine.state.to_bytes()
    refused = metadata.run(_allow(deny, name="nowhere"))
    assert isinstance(refused, Failure) and refused.code == "QueueDoesNotExist"
    assert metadata.machine.state.to_bytes() == before
    metadata.run(BeginDeleteQueue(now_ms=NOW, actor="root", name="dlq"))
    before = metadata.machine.state.to_bytes()
    refused = metadata.run(_allow(deny))
    assert isinstance(refused, Failure) and refused.code == "ConflictingState"
    assert metadata.machine.state.to_bytes() == before


def test_setting_the_same_policy_again_changes_nothing(metadata: Metadata) -> None:
    policy = RedriveAllowPolicy(permission="byQueue", source_queues=("orders", "billing"))
    metadata.run(_allow(policy))
    again = metadata.run(_allow(policy))
    assert isinstance(again, QueueResult) and not again.changed


def test_by_queue_names_one_to_ten_sources() -> None:
    most = tuple(f"q{i}" for i in range(limits.REDRIVE_ALLOW_SOURCE_QUEUES_MAX))
    assert RedriveAllowPolicy(permission="byQueue", source_queues=most).allows("q9")
    assert RedriveAllowPolicy(permission="byQueue", source_queues=("q0",)).allows("q0")
    assert not RedriveAllowPolicy(permission="byQueue", source_queues=("q0",)).allows("q1")


@pytest.mark.parametrize(
    "fields",
    [
        {"permission": "byQueue"},
        {"permission": "byQueue", "source_queues": tuple(f"q{i}" for i in range(11))},
        {"permission": "denyAll", "source_queues": ("q0",)},
        {"permission": "allowAll", "source_queues": ("q0",)},
        {"permission": "byQueue", "source_queues": ("not a queue name",)},
        {"permission": "byQueue", "source_queues": ("q" * 81,)},
        {"permission": "allowSome"},
        {"permission": "allowAll", "extra": 1},
    ],
    ids=[
        "byQueue none",
        "byQueue 11",
        "denyAll sources",
        "allowAll sources",
        "bad name",
        "long name",
        "unknown permission",
        "unknown field",
    ],
)
def test_malformed_policies_never_reach_the_state_machine(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RedriveAllowPolicy.model_validate(fields)

"""Labelled grants (SQS AddPermission / RemovePermission) in the metadata state machine."""

from __future__ import annotations

import pytest

from raftq.common import limits
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddGrant,
    AddLabelledGrants,
    AnyMetadataCommand,
    BeginDeleteQueue,
    CreatePrincipal,
    ForgetQueue,
    RemoveLabelledGrants,
)
from raftq.common.metadata_models import Action, Grant
from raftq.common.results import Done, Failure
from tests.unit.metadata.test_metadata_state_machine import Metadata

NOW = 1_700_000_000_000


@pytest.fixture
def metadata() -> Metadata:
    """Queues `orders` and `billing`, principals `app` and `ops`."""
    m = Metadata()
    m.register()
    for i, name in enumerate(("orders", "billing")):
        m.create(name, f"q-{i}")
        m.run(ActivateQueue(now_ms=m.now_ms, actor="alice", name=name, queue_id=f"q-{i}"))
    for principal in ("app", "ops"):
        m.run(CreatePrincipal(now_ms=m.now_ms, actor="root", principal_id=principal))
    return m


def _grant(
    principal: str,
    queue: str = "orders",
    label: str | None = "p1",
    actions: tuple[Action, ...] = ("send",),
) -> Grant:
    return Grant(principal_id=principal, queues=queue, actions=actions, label=label)


def _add(*grants: Grant, queue: str = "orders", label: str = "p1") -> AddLabelledGrants:
    return AddLabelledGrants(now_ms=NOW, actor="alice", queue=queue, label=label, grants=grants)


def _remove(queue: str = "orders", label: str = "p1") -> RemoveLabelledGrants:
    return RemoveLabelledGrants(now_ms=NOW, actor="alice", queue=queue, label=label)


def _refused(metadata: Metadata, command: AnyMetadataCommand, code: str, field: str) -> Failure:
    before = metadata.machine.state.to_bytes()
    result = metadata.run(command)
    assert isinstance(result, Failure) and (result.code, result.field) == (code, field), result
    assert metadata.machine.state.to_bytes() == before
    return result


def test_labelled_grants_are_added_together_and_removed_together(metadata: Metadata) -> None:
    # Given an admin grant and a labelled grant p2 on the same queue
    admin = Grant(principal_id="ops", queues="orders", actions=("admin",))
    metadata.run(AddGrant(now_ms=NOW, actor="root", grant=admin))
    metadata.run(_add(_grant("ops", label="p2"), label="p2"))
    # When p1 grants send to app and receive to ops
    added = metadata.run(_add(_grant("app"), _grant("ops", actions=("receive",))))
    # Then both are there and cover the queue
    assert isinstance(added, Done)
    p1 = [g for g in metadata.machine.state.grants if g.label == "p1"]
    assert [(g.principal_id, g.actions) for g in p1] == [("app", ("send",)), ("ops", ("receive",))]
    assert p1[0].covers("orders", "send") and not p1[0].covers("billing", "send")
    # When p1 is removed, then both go, and the admin grant and p2 stay
    assert isinstance(metadata.run(_remove()), Done)
    assert metadata.machine.state.grants == [admin, _grant("ops", label="p2")]


def test_the_same_label_may_be_used_on_another_queue(metadata: Metadata) -> None:
    metadata.run(_add(_grant("app")))
    other = metadata.run(_add(_grant("app", queue="billing"), queue="billing"))
    assert isinstance(other, Done) and len(metadata.machine.state.grants) == 2


def test_a_label_that_exists_on_the_queue_is_refused(metadata: Metadata) -> None:
    metadata.run(_add(_grant("app")))
    refused = _refused(metadata, _add(_grant("ops")), "InvalidParameterValue", "label")
    assert "already exists" in refused.message


def test_an_unknown_principal_adds_none_of_the_grants(metadata: Metadata) -> None:
    _refused(metadata, _add(_grant("app"), _grant("ghost")), "PrincipalNotFound", "principal_id")


def test_grants_on_an_unknown_or_deleting_queue_are_refused(metadata: Metadata) -> None:
    _refused(
        metadata,
        _add(_grant("app", queue="nowhere"), queue="nowhere"),
        "QueueDoesNotExist",
        "queue",
    )
    metadata.run(BeginDeleteQueue(now_ms=NOW, actor="root", name="orders"))
    _refused(metadata, _add(_grant("app")), "ConflictingState", "queue")


@pytest.mark.parametrize(
    "grant",
    [
        Grant(principal_id="app", queues="billing", actions=("send",), label="p1"),
        Grant(principal_id="app", queues="orders*", actions=("send",), label="p1"),
        Grant(principal_id="app", queues="*", actions=("send",), label="p1"),
        Grant(principal_id="app", queues="orders", actions=("send",), label="p2"),
        Grant(principal_id="app", queues="orders", actions=("send",)),
    ],
    ids=["other queue", "prefix", "every queue", "other label", "no label"],
)
def test_a_grant_must_name_exactly_the_queue_and_carry_the_label(
    metadata: Metadata, grant: Grant
) -> None:
    _refused(metadata, _add(_grant("ops"), grant), "InvalidParameterValue", "grants")


def test_removing_a_label_the_queue_does_not_have_is_refused(metadata: Metadata) -> None:
    metadata.run(_add(_grant("app", queue="billing"), queue="billing"))
    metadata.run(AddGrant(now_ms=NOW, actor="root", grant=_grant("app", label=None)))
    _refused(metadata, _remove(), "InvalidParameterValue", "label")
    _refused(metadata, _remove(queue="nowhere"), "QueueDoesNotExist", "queue")


def test_labelled_grants_are_added_only_with_their_label_command(metadata: Metadata) -> None:
    _refused(
        metadata,
        AddGrant(now_ms=NOW, actor="root", grant=_grant("app")),
        "InvalidParameterValue",
        "grant",
    )


def test_forgetting_a_queue_drops_its_labelled_grants_and_keeps_admin_grants(
    metadata: Metadata,
) -> None:
    admin = [
        Grant(principal_id="ops", queues="orders", actions=("admin",)),
        Grant(principal_id="ops", queues="ord*", actions=("send",)),
    ]
    for grant in admin:
        metadata.run(AddGrant(now_ms=NOW, actor="root", grant=grant))
    metadata.run(_add(_grant("app")))
    on_billing = _grant("app", queue="billing")
    metadata.run(_add(on_billing, queue="billing"))
    metadata.run(BeginDeleteQueue(now_ms=NOW, actor="root", name="orders"))
    metadata.run(ForgetQueue(now_ms=NOW, actor="root", name="orders", queue_id="q-0"))
    assert metadata.machine.state.grants == [*admin, on_billing]


def test_labelled_grant_commands_are_audited_with_queue_and_label(metadata: Metadata) -> None:
    metadata.run(_add(_grant("app")))
    metadata.run(_remove())
    trail = [(e.action, e.target) for e in list(metadata.machine.state.audit)[-2:]]
    assert trail == [("add_labelled_grants", "orders:p1"), ("remove_labelled_grants", "orders:p1")]


def test_labels_of_one_to_eighty_word_characters_are_accepted() -> None:
    for label in ("a", "L" * limits.GRANT_LABEL_MAX_CHARS, "perm_1-A"):
        assert _grant("app", label=label).label == label
        assert _add(_grant("app", label=label), label=label).label == label


@pytest.mark.parametrize(
    "label",
    ["", "L" * (limits.GRANT_LABEL_MAX_CHARS + 1), "with space", "dot.ted", "é", "a/b", "x\n"],
)
def test_bad_labels_never_reach_the_state_machine(label: str) -> None:
    with pytest.raises(ValueError):
        _grant("app", label=label)
    with pytest.raises(ValueError):
        _remove(label=label)


def test_a_labelled_grant_command_carries_one_to_the_maximum_of_grants() -> None:
    most = tuple(_grant(f"p{i}") for i in range(limits.LABELLED_GRANTS_MAX))
    assert len(_add(*most).grants) == limits.LABELLED_GRANTS_MAX
    for grants in ((), (*most, _grant("one-more"))):
        with pytest.raises(ValueError):
            _add(*grants)

"""The metadata state machine: catalogue, placement inputs, lifecycle, principals, audit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftq.common import codec, limits
from raftq.common.errors import ApplyFailed
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddDataKey,
    AddGrant,
    AnyMetadataCommand,
    BeginDeleteQueue,
    BeginMove,
    CancelMessageMoveTask,
    CreateAccessKey,
    CreatePrincipal,
    CreateQueue,
    DeletePrincipal,
    ForgetQueue,
    MetadataCommandBatch,
    RegisterCluster,
    ReportLoad,
    ReportMessageMoveTask,
    RevokeAccessKey,
    RewrapDataKey,
    SetQueueAttributes,
    SetRedriveAllowPolicy,
    StartMessageMoveTask,
    SwitchPlacement,
    TagQueue,
    UntagQueue,
)
from raftq.common.metadata_models import (
    ClusterMember,
    DataKey,
    Grant,
    Placement,
    RedriveAllowPolicy,
)
from raftq.common.metadata_results import ClusterResult, QueueResult
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy
from raftq.common.results import Done, Failure
from raftq.metadata import state_machine as metadata_state_machine
from raftq.metadata.state import MetadataState
from raftq.metadata.state_machine import MetadataStateMachine

KEY = "AKIDEXAMPLE000001"


class Metadata:
    """One replica of the metadata state machine, fed commands at increasing indexes."""

    def __init__(self) -> None:
        self.machine = MetadataStateMachine()
        self.now_ms = 1_700_000_000_000
        self.log: list[tuple[int, bytes]] = []

    def run(self, command: AnyMetadataCommand) -> object:
        payload = codec.encode(MetadataCommandBatch(commands=(command,)))
        index = self.machine.applied_index + 1
        self.log.append((index, payload))
        results = self.machine.apply(index, payload)
        assert results is not None
        return results[0]

    def register(self, cluster_id: str = "c1", zones: str = "abc") -> None:
        members = tuple(
            ClusterMember(
                node_id=f"{cluster_id}-{z}",
                zone=z,
                raft_address=f"10.0.0.{i}:7000",
                api_address=f"10.0.0.{i}:8000",
            )
            for i, z in enumerate(zones)
        )
        assert isinstance(
            self.run(
                RegisterCluster(
                    now_ms=self.now_ms, actor="root", cluster_id=cluster_id, members=members
                )
            ),
            ClusterResult,
        )

    def create(
        self, name: str, queue_id: str, cluster_id: str = "c1", **attributes: object
    ) -> object:
        return self.run(
            CreateQueue(
                now_ms=self.now_ms,
                actor="alice",
                queue_id=queue_id,
                name=name,
                fifo=name.endswith(".fifo"),
                attributes=QueueAttributes.model_validate(attributes),
                placement=Placement(cluster_id=cluster_id, epoch=1),
            )
        )


@pytest.fixture
def metadata() -> Metadata:
    m = Metadata()
    m.register()
    return m


def test_a_queue_is_created_then_activated_and_creation_is_idempotent(metadata: Metadata) -> None:
    created = metadata.create("orders", "q-1")
    assert isinstance(created, QueueResult) and created.changed
    assert created.queue.lifecycle == "creating" and created.queue.owner == "alice"
    again = metadata.create("orders", "q-2")  # a retried creation with identical attributes
    assert isinstance(again, QueueResult) and not again.changed and again.queue.queue_id == "q-1"
    active = metadata.run(
        ActivateQueue(now_ms=metadata.now_ms, actor="alice", name="orders", queue_id="q-1")
    )
    assert isinstance(active, QueueResult) and active.queue.lifecycle == "active"


def test_same_name_with_other_attributes_is_refused_and_changes_nothing(metadata: Metadata) -> None:
    metadata.create("orders", "q-1")
    before = metadata.machine.state.to_bytes()
    refused = metadata.create("orders", "q-2", visibility_timeout_ms=1_000)
    assert isinstance(refused, Failure) and refused.code == "QueueAlreadyExists"
    assert refused.field == "attributes"
    # only the audit trail is unchanged too: failures are not audited
    assert metadata.machine.state.to_bytes() == before


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (
            lambda m: m.create("orders", "q-9", cluster_id="nowhere"),
            "ClusterNotFound",
            "cluster_id",
        ),
        (
            lambda m: m.run(
                CreateQueue(
                    now_ms=m.now_ms,
                    actor="a",
                    queue_id="q-9",
                    name="jobs",  # a FIFO queue without the .fifo suffix
                    fifo=True,
                    placement=Placement(cluster_id="c1", epoch=1),
                )
            ),
            "InvalidParameterValue",
            "name",
        ),
        (
            lambda m: m.create("orders", "q-9", redrive={"dead_letter_queue": "missing"}),
            "InvalidDeadLetterQueue",
            "redrive",
        ),
        (
            lambda m: m.run(RevokeAccessKey(now_ms=m.now_ms, actor="root", key_id=KEY)),
            "AccessKeyNotFound",
            "key_id",
        ),
        (
            lambda m: m.run(
                CreateAccessKey(
                    now_ms=m.now_ms,
                    actor="root",
                    principal_id="ghost",
                    key_id=KEY,
                    secret_ciphertext=b"x",
                )
            ),
            "PrincipalNotFound",
            "principal_id",
        ),
    ],
    ids=["unknown cluster", "fifo name", "missing dlq", "unknown key", "unknown principal"],
)
def test_bad_commands_get_the_field_at_fault_and_change_nothing(
    metadata: Metadata, command: object, code: str, field: str
) -> None:
    before = metadata.machine.state.to_bytes()
    result = command(metadata)  # type: ignore[operator]
    assert isinstance(result, Failure) and (result.code, result.field) == (code, field)
    assert metadata.machine.state.to_bytes() == before


def test_invalid_queue_names_never_reach_the_state_machine() -> None:
    for name in ["", "has space", "x" * 81, "a/b", "émoji"]:
        with pytest.raises(ValueError):
            CreateQueue(
                now_ms=0,
                actor="a",
                queue_id="q",
                name=name,
                placement=Placement(cluster_id="c1", epoch=1),
            )


def test_deletion_marks_the_queue_then_forgets_it(metadata: Metadata) -> None:
    metadata.create("orders", "q-1")
    deleting = metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders"))
    assert isinstance(deleting, QueueResult) and deleting.queue.lifecycle == "deleting"
    refused = metadata.run(
        SetQueueAttributes(
            now_ms=metadata.now_ms, actor="root", name="orders", attributes=QueueAttributes()
        )
    )
    assert isinstance(refused, Failure) and refused.code == "ConflictingState"
    metadata.run(ForgetQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1"))
    assert "orders" not in metadata.machine.state.queues
    # forgetting again (a retried step) is harmless
    assert isinstance(
        metadata.run(
            ForgetQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1")
        ),
        Done,
    )


def test_a_queue_that_is_a_live_dead_letter_queue_is_not_deleted(metadata: Metadata) -> None:
    # Given a DLQ and a queue whose redrive policy names it
    metadata.create("orders-dlq", "q-1")
    metadata.create("orders", "q-2", redrive={"dead_letter_queue": "orders-dlq"})
    for name, queue_id in (("orders-dlq", "q-1"), ("orders", "q-2")):
        metadata.run(
            ActivateQueue(now_ms=metadata.now_ms, actor="root", name=name, queue_id=queue_id)
        )
    before = metadata.machine.state.to_bytes()

    # When the DLQ is to be deleted, that is refused, naming the source, and nothing changes
    refused = metadata.run(
        BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders-dlq")
    )
    assert isinstance(refused, Failure) and refused.code == "ConflictingState"
    assert refused.field == "name" and "'orders'" in refused.message
    assert metadata.machine.state.to_bytes() == before

    # And once the source no longer points at it, it can be deleted
    unset = metadata.run(
        SetQueueAttributes(
            now_ms=metadata.now_ms, actor="root", name="orders", attributes=QueueAttributes()
        )
    )
    assert isinstance(unset, QueueResult)
    deleting = metadata.run(
        BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders-dlq")
    )
    assert isinstance(deleting, QueueResult) and deleting.queue.lifecycle == "deleting"


def test_a_move_raises_the_placement_epoch_that_fences_the_old_cluster(metadata: Metadata) -> None:
    metadata.register("c2", zones="abc")
    metadata.create("orders", "q-1")
    metadata.run(ActivateQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1"))
    moving = metadata.run(
        BeginMove(now_ms=metadata.now_ms, actor="root", name="orders", target_cluster="c2")
    )
    assert isinstance(moving, QueueResult) and moving.queue.lifecycle == "moving"
    switched = metadata.run(
        SwitchPlacement(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1")
    )
    assert isinstance(switched, QueueResult)
    assert switched.queue.placement == Placement(cluster_id="c2", epoch=2)
    assert switched.queue.lifecycle == "active"


def test_a_moving_queue_refuses_other_changes_and_a_second_target(metadata: Metadata) -> None:
    metadata.register("c2", zones="abc")
    metadata.register("c3", zones="abc")
    metadata.create("orders", "q-1")
    now = metadata.now_ms
    set_delay = SetQueueAttributes(
        now_ms=now, actor="root", name="orders", attributes=QueueAttributes(delay_ms=5)
    )
    # Creating: a move or an attribute change waits for the replica to exist.
    for early in (
        set_delay,
        BeginMove(now_ms=now, actor="root", name="orders", target_cluster="c2"),
    ):
        refused = metadata.run(early)
        assert isinstance(refused, Failure) and refused.code == "ConflictingState", early
    metadata.run(ActivateQueue(now_ms=now, actor="root", name="orders", queue_id="q-1"))
    to_c2 = BeginMove(now_ms=now, actor="root", name="orders", target_cluster="c2")
    assert isinstance(metadata.run(to_c2), QueueResult)
    before = metadata.machine.state.to_bytes()
    again = metadata.run(to_c2)  # a retried start is harmless
    assert isinstance(again, QueueResult) and not again.changed
    for refused_command in (
        set_delay,
        BeginDeleteQueue(now_ms=now, actor="root", name="orders"),
        BeginMove(now_ms=now, actor="root", name="orders", target_cluster="c3"),
    ):
        refused = metadata.run(refused_command)
        assert isinstance(refused, Failure) and refused.code == "ConflictingState", refused_command
    assert _without_audit(metadata.machine.state.to_bytes()) == _without_audit(before)
    stale = SwitchPlacement(now_ms=now, actor="root", name="orders", queue_id="q-other")
    assert isinstance(metadata.run(stale), Failure)
    metadata.run(SwitchPlacement(now_ms=now, actor="root", name="orders", queue_id="q-1"))
    # Switched: a second switch (a retried step of an old mover) is refused, changing nothing.
    late = metadata.run(SwitchPlacement(now_ms=now, actor="root", name="orders", queue_id="q-1"))
    assert isinstance(late, Failure) and late.code == "ConflictingState"
    assert metadata.machine.state.queues["orders"].placement == Placement(cluster_id="c2", epoch=2)


def test_a_move_to_an_unknown_cluster_or_to_where_it_lives_is_refused(metadata: Metadata) -> None:
    metadata.create("orders", "q-1")
    metadata.run(ActivateQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1"))
    for target, field in (("c9", "cluster_id"), ("c1", "target_cluster")):
        command = BeginMove(
            now_ms=metadata.now_ms, actor="root", name="orders", target_cluster=target
        )
        refused = metadata.run(command)
        assert isinstance(refused, Failure) and refused.field == field
    assert metadata.machine.state.queues["orders"].lifecycle == "active"


def test_the_first_data_key_of_a_version_wins_and_is_kept(metadata: Metadata) -> None:
    metadata.create("orders", "q-1")
    first = DataKey(version=1, master_key_id="m1", wrapped=b"\x01first")
    second = DataKey(version=1, master_key_id="m1", wrapped=b"\x01second")
    for key in (first, second):
        metadata.run(
            AddDataKey(now_ms=metadata.now_ms, actor="fe", name="orders", queue_id="q-1", key=key)
        )
    assert metadata.machine.state.queues["orders"].data_keys == (first,)
    stale = metadata.run(
        AddDataKey(now_ms=metadata.now_ms, actor="fe", name="orders", queue_id="q-9", key=first)
    )
    assert isinstance(stale, Failure) and stale.code == "QueueDoesNotExist"
    restored = MetadataState.from_bytes(metadata.machine.state.to_bytes())
    assert restored.queues["orders"].data_keys == (first,)


def test_a_deleted_queue_keeps_its_data_keys_for_the_longest_retention(
    metadata: Metadata,
) -> None:
    # Given a queue with a data key, deleted (its dead letters may live on in another queue)
    metadata.create("orders", "q-1")
    key = DataKey(version=1, master_key_id="m1", wrapped=b"\x01key")
    metadata.run(
        AddDataKey(now_ms=metadata.now_ms, actor="fe", name="orders", queue_id="q-1", key=key)
    )
    metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders"))
    metadata.run(ForgetQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1"))
    # Then its keys are kept, by queue id, through a snapshot
    retired = metadata.machine.state.retired["q-1"]
    assert (retired.name, retired.data_keys) == ("orders", (key,))
    assert MetadataState.from_bytes(metadata.machine.state.to_bytes()).retired == {"q-1": retired}

    # And a master-key rotation rewraps them, even once the name is taken by a new queue
    metadata.create("orders", "q-2")
    rewrapped = DataKey(version=1, master_key_id="m2", wrapped=b"\x01new")
    metadata.run(
        RewrapDataKey(
            now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-1", key=rewrapped
        )
    )
    assert metadata.machine.state.retired["q-1"].data_keys == (rewrapped,)

    # And they are forgotten once no message they sealed can remain (the longest retention)
    metadata.now_ms += limits.RETENTION_MAX_MS + 1
    metadata.run(BeginDeleteQueue(now_ms=metadata.now_ms, actor="root", name="orders"))
    metadata.run(ForgetQueue(now_ms=metadata.now_ms, actor="root", name="orders", queue_id="q-2"))
    assert "q-1" not in metadata.machine.state.retired


def _without_audit(raw: bytes) -> bytes:
    state = MetadataState.from_bytes(raw)
    state.audit.clear()
    return state.to_bytes()


def test_principals_keys_and_grants(metadata: Metadata) -> None:
    metadata.run(CreatePrincipal(now_ms=metadata.now_ms, actor="root", principal_id="app"))
    assert isinstance(
        metadata.run(
            CreateAccessKey(
                now_ms=metadata.now_ms,
                actor="root",
                principal_id="app",
                key_id=KEY,
                secret_ciphertext=b"sealed",
            )
        ),
        Done,
    )
    taken = metadata.run(
        CreateAccessKey(
            now_ms=metadata.now_ms,
            actor="root",
            principal_id="app",
            key_id=KEY,
            secret_ciphertext=b"other",
        )
    )
    assert isinstance(taken, Failure) and taken.code == "ConflictingState"
    grant = Grant(principal_id="app", queues="orders-*", actions=("send", "receive"))
    metadata.run(AddGrant(now_ms=metadata.now_ms, actor="root", grant=grant))
    assert grant.covers("orders-eu", "send") and not grant.covers("orders-eu", "admin")
    assert not grant.covers("billing", "send")
    metadata.run(RevokeAccessKey(now_ms=metadata.now_ms, actor="root", key_id=KEY))
    assert metadata.machine.state.keys[KEY].revoked_at_ms == metadata.now_ms
    metadata.run(DeletePrincipal(now_ms=metadata.now_ms, actor="root", principal_id="app"))
    assert metadata.machine.state.keys == {} and metadata.machine.state.grants == []


def test_administrative_changes_are_audited_and_load_reports_are_not(metadata: Metadata) -> None:
    metadata.run(
        ReportLoad(
            now_ms=metadata.now_ms,
            actor="c1-a",
            cluster_id="c1",
            node_id="c1-a",
            messages=5,
            queues=1,
        )
    )
    metadata.create("orders", "q-1")
    trail = [(e.actor, e.action, e.target) for e in metadata.machine.state.audit]
    assert trail == [("root", "register_cluster", "c1"), ("alice", "create_queue", "orders")]


def test_state_time_never_moves_back(metadata: Metadata) -> None:
    metadata.now_ms += 10_000
    metadata.run(CreatePrincipal(now_ms=metadata.now_ms, actor="root", principal_id="a"))
    metadata.run(CreatePrincipal(now_ms=metadata.now_ms - 5_000, actor="root", principal_id="b"))
    assert metadata.machine.state.principals["b"].created_at_ms == metadata.now_ms


def test_an_undecodable_entry_is_a_failure_and_advances_the_index(metadata: Metadata) -> None:
    index = metadata.machine.applied_index
    results = metadata.machine.apply(index + 1, b"\xc1 not msgpack")
    assert results is not None and isinstance(results[0], Failure)
    assert metadata.machine.applied_index == index + 1
    assert metadata.machine.apply(index + 1, b"again") is None


_names = st.sampled_from(["a", "b", "c.fifo"])


def _commands(draw: st.DrawFn, now: int) -> AnyMetadataCommand:
    name = draw(_names)
    kind = draw(
        st.sampled_from(
            ["create", "activate", "delete", "forget", "attrs", "principal", "tag", "allow", "task"]
        )
    )
    if kind == "create":
        return CreateQueue(
            now_ms=now,
            actor="x",
            queue_id=f"id-{name}-{draw(st.integers(0, 2))}",
            name=name,
            fifo=name.endswith(".fifo"),
            attributes=QueueAttributes(delay_ms=draw(st.sampled_from([0, 5]))),
            placement=Placement(cluster_id="c1", epoch=1),
        )
    if kind == "activate":
        return ActivateQueue(now_ms=now, actor="x", name=name, queue_id=f"id-{name}-0")
    if kind == "delete":
        return BeginDeleteQueue(now_ms=now, actor="x", name=name)
    if kind == "forget":
        return ForgetQueue(now_ms=now, actor="x", name=name, queue_id=f"id-{name}-0")
    if kind == "attrs":
        redrive = RedrivePolicy(dead_letter_queue=draw(_names)) if draw(st.booleans()) else None
        return SetQueueAttributes(
            now_ms=now, actor="x", name=name, attributes=QueueAttributes(redrive=redrive)
        )
    if kind == "tag":
        if draw(st.booleans()):
            tags = {draw(st.sampled_from(["z", "a", "m"])): draw(st.sampled_from(["", "1"]))}
            return TagQueue(now_ms=now, actor="x", name=name, tags=tags)
        return UntagQueue(now_ms=now, actor="x", name=name, keys=("a", "z"))
    if kind == "allow":
        policy = draw(
            st.sampled_from(
                [
                    None,
                    RedriveAllowPolicy(permission="denyAll"),
                    RedriveAllowPolicy(permission="byQueue", source_queues=("a",)),
                ]
            )
        )
        return SetRedriveAllowPolicy(now_ms=now, actor="x", name=name, policy=policy)
    if kind == "task":
        handle = f"t{draw(st.integers(0, 3))}"
        step = draw(st.sampled_from(["start", "report", "cancel"]))
        if step == "start":
            return StartMessageMoveTask(
                now_ms=now, actor="x", task_handle=handle, source_queue=name, to_move=3
            )
        if step == "cancel":
            return CancelMessageMoveTask(now_ms=now, actor="x", task_handle=handle)
        return ReportMessageMoveTask(
            now_ms=now,
            actor="x",
            task_handle=handle,
            moved=draw(st.integers(0, 3)),
            status=draw(st.sampled_from(["RUNNING", "COMPLETED"])),
        )
    return CreatePrincipal(now_ms=now, actor="x", principal_id=name.replace(".", "-"))


def _command_strategy(now_ms: int) -> st.SearchStrategy[AnyMetadataCommand]:
    return st.composite(lambda draw: _commands(draw, now_ms))()


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_replaying_the_log_or_restoring_a_snapshot_gives_the_same_state(
    data: st.DataObject,
) -> None:
    metadata = Metadata()
    metadata.register()
    for step in range(data.draw(st.integers(1, 25))):
        metadata.now_ms += step
        metadata.run(data.draw(_command_strategy(metadata.now_ms)))
    replay = MetadataStateMachine()
    for index, payload in metadata.log:
        replay.apply(index, payload)
    assert replay.digest == metadata.machine.digest
    assert replay.state.to_bytes() == metadata.machine.state.to_bytes()
    restored = MetadataState.from_bytes(metadata.machine.state.to_bytes())
    assert restored.to_bytes() == metadata.machine.state.to_bytes()


def test_an_unexpected_exception_in_apply_stops_the_replica(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a fault injected into one replica's handler of CreatePrincipal

    def broken(state: MetadataState, command: object) -> object:
        raise MemoryError("a bit flipped")

    command_type: type[Any] = CreatePrincipal
    monkeypatch.setitem(metadata_state_machine._HANDLERS, command_type, broken)
    metadata = Metadata()
    # When it applies the command, it stops instead of answering an error the others did not
    with pytest.raises(ApplyFailed, match="MemoryError"):
        metadata.run(CreatePrincipal(now_ms=metadata.now_ms, actor="root", principal_id="app"))
    assert metadata.machine.applied_index == 0

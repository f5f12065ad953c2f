"""What each metadata command does to the state. Every handler checks everything before its
first change, so a command that raises changed nothing (the state machine relies on it)."""

from __future__ import annotations

from raftq.common import limits
from raftq.common.errors import (
    AccessKeyNotFound,
    ClusterNotFound,
    ConflictingState,
    DeadLetterQueueInvalid,
    InvalidParameter,
    PrincipalNotFound,
    QueueAlreadyExists,
    QueueNotFound,
)
from raftq.common.metadata_commands import (
    ActivateQueue,
    AddGrant,
    AddLabelledGrants,
    BeginDeleteQueue,
    BeginMove,
    CreateAccessKey,
    CreatePrincipal,
    CreateQueue,
    DeletePrincipal,
    DrainCluster,
    ForgetQueue,
    RegisterCluster,
    RemoveGrant,
    RemoveLabelledGrants,
    ReportLoad,
    RevokeAccessKey,
    SetClusterMembers,
    SetQueueAttributes,
    SetRedriveAllowPolicy,
    SwitchPlacement,
    TagQueue,
    UntagQueue,
)
from raftq.common.metadata_models import (
    AccessKey,
    Cluster,
    NodeReport,
    Placement,
    Principal,
    Queue,
)
from raftq.common.metadata_results import ClusterResult, QueueResult
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy
from raftq.common.results import Done
from raftq.metadata.data_keys import retire
from raftq.metadata.state import MetadataState


def _cluster(state: MetadataState, cluster_id: str) -> Cluster:
    cluster = state.clusters.get(cluster_id)
    if cluster is None:
        raise ClusterNotFound(f"no backend cluster {cluster_id!r}", field="cluster_id")
    return cluster


def _queue(
    state: MetadataState, name: str, queue_id: str | None = None, *, field: str = "name"
) -> Queue:
    queue = state.queues.get(name)
    if queue is None or (queue_id is not None and queue.queue_id != queue_id):
        raise QueueNotFound(f"queue {name!r} does not exist", field=field)
    return queue


def live_queue(state: MetadataState, name: str, *, field: str = "name") -> Queue:
    """A queue that is not being deleted: what catalogue-only changes (tags, policies, labelled
    grants, move tasks) apply to. A move or a creation in progress does not stop them."""
    queue = _queue(state, name, field=field)
    if queue.lifecycle == "deleting":
        raise ConflictingState(f"queue {name!r} is being deleted", field=field)
    return queue


def register_cluster(state: MetadataState, c: RegisterCluster) -> ClusterResult:
    node_ids = [m.node_id for m in c.members]
    if len(set(node_ids)) != len(node_ids):
        raise InvalidParameter("member node ids must be distinct", field="members")
    existing = state.clusters.get(c.cluster_id)
    if existing is not None:
        # A member restarted with the flags it was first started with, after a membership
        # change the operator recorded (set_cluster_members): the record stands.
        restarted_member = c.actor in {m.node_id for m in existing.members}
        if existing.members != c.members and not restarted_member:
            raise ConflictingState(
                f"cluster {c.cluster_id!r} is registered with other members", field="members"
            )
        return ClusterResult(cluster=existing)
    cluster = Cluster(cluster_id=c.cluster_id, members=c.members)
    state.clusters[c.cluster_id] = cluster
    return ClusterResult(cluster=cluster)


def set_cluster_members(state: MetadataState, c: SetClusterMembers) -> ClusterResult:
    cluster = _cluster(state, c.cluster_id)
    node_ids = [m.node_id for m in c.members]
    if len(set(node_ids)) != len(node_ids):
        raise InvalidParameter("member node ids must be distinct", field="members")
    reports = {node: r for node, r in cluster.reports.items() if node in node_ids}
    changed = cluster.model_copy(update={"members": c.members, "reports": reports})
    state.clusters[c.cluster_id] = changed
    return ClusterResult(cluster=changed)


def report_load(state: MetadataState, c: ReportLoad) -> Done:
    cluster = _cluster(state, c.cluster_id)
    if c.node_id not in {m.node_id for m in cluster.members}:
        raise InvalidParameter(
            f"{c.node_id!r} is not a member of {c.cluster_id!r}", field="node_id"
        )
    report = NodeReport(reported_at_ms=c.now_ms, messages=c.messages, queues=c.queues)
    reports = {**cluster.reports, c.node_id: report}
    state.clusters[c.cluster_id] = cluster.model_copy(update={"reports": reports})
    return Done()


def drain_cluster(state: MetadataState, c: DrainCluster) -> ClusterResult:
    cluster = _cluster(state, c.cluster_id).model_copy(update={"draining": c.draining})
    state.clusters[c.cluster_id] = cluster
    return ClusterResult(cluster=cluster)


def check_new_queue(
    state: MetadataState, name: str, fifo: bool, attributes: QueueAttributes
) -> None:
    """What a new queue must satisfy whatever its placement (the leader checks it before it
    chooses one, and apply again)."""
    if name.endswith(".fifo") != fifo:
        raise InvalidParameter("a FIFO queue's name ends in .fifo, and only a FIFO's", field="name")
    _check_dead_letter(state, name, fifo, attributes.redrive)


def create_queue(state: MetadataState, c: CreateQueue) -> QueueResult:
    check_new_queue(state, c.name, c.fifo, c.attributes)
    _cluster(state, c.placement.cluster_id)
    existing = state.queues.get(c.name)
    if existing is not None:
        if existing.fifo == c.fifo and existing.attributes == c.attributes:
            return QueueResult(queue=existing, changed=False)
        raise QueueAlreadyExists(
            f"queue {c.name!r} exists with different attributes", field="attributes"
        )
    if any(q.queue_id == c.queue_id for q in state.queues.values()):
        raise ConflictingState(f"the id drawn for queue {c.name!r} is taken", field="queue_id")
    queue = Queue(
        queue_id=c.queue_id,
        name=c.name,
        owner=c.actor,
        fifo=c.fifo,
        attributes=c.attributes,
        placement=c.placement,
        lifecycle="creating",
        created_at_ms=c.now_ms,
        tags=c.tags,
        data_keys=c.data_keys,
        sealing_id=c.sealing_id,
    )
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def activate_queue(state: MetadataState, c: ActivateQueue) -> QueueResult:
    queue = _queue(state, c.name, c.queue_id)
    if queue.lifecycle == "active":
        return QueueResult(queue=queue, changed=False)
    if queue.lifecycle != "creating":
        raise ConflictingState(f"queue {c.name!r} is {queue.lifecycle}", field="name")
    queue = queue.model_copy(update={"lifecycle": "active"})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def set_queue_attributes(state: MetadataState, c: SetQueueAttributes) -> QueueResult:
    queue = _queue(state, c.name)
    if queue.lifecycle != "active":
        raise ConflictingState(f"queue {c.name!r} is {queue.lifecycle}: try again", field="name")
    _check_dead_letter(
        state, c.name, queue.fifo, c.attributes.redrive, current=queue.attributes.redrive
    )
    queue = queue.model_copy(update={"attributes": c.attributes, "modified_at_ms": c.now_ms})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def begin_delete_queue(state: MetadataState, c: BeginDeleteQueue) -> QueueResult:
    queue = _queue(state, c.name)
    if queue.lifecycle == "deleting":
        return QueueResult(queue=queue, changed=False)
    if queue.lifecycle == "moving":  # the move finishes first: a copy may be on its way
        raise ConflictingState(f"queue {c.name!r} is moving: delete it after", field="name")
    # A live DLQ target is kept: its sources' dead letters would wait for it forever, unseen.
    sources = sorted(
        other.name
        for other in state.queues.values()
        if other.name != c.name
        and other.lifecycle != "deleting"
        and other.attributes.redrive is not None
        and other.attributes.redrive.dead_letter_queue == c.name
    )
    if sources:
        raise ConflictingState(
            f"queue {c.name!r} is the dead-letter queue of {', '.join(map(repr, sources))}: "
            "remove their redrive policies (or delete them) first",
            field="name",
        )
    queue = queue.model_copy(update={"lifecycle": "deleting"})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def forget_queue(state: MetadataState, c: ForgetQueue) -> Done:
    queue = state.queues.get(c.name)
    if queue is None or queue.queue_id != c.queue_id:
        return Done()  # already forgotten: idempotent
    if queue.lifecycle not in ("deleting", "creating"):
        raise ConflictingState(f"queue {c.name!r} is {queue.lifecycle}", field="name")
    del state.queues[c.name]
    retire(state, queue, c.now_ms)
    # What SQS keeps with the queue goes with it; admin grants name queues, not a queue.
    state.grants = [g for g in state.grants if g.label is None or g.queues != c.name]
    for handle in [h for h, t in state.move_tasks.items() if t.source_queue == c.name]:
        del state.move_tasks[handle]
    for name in [n for n, s in state.schedules.items() if s.queue_id == c.queue_id]:
        del state.schedules[name]
    return Done()


def begin_move(state: MetadataState, c: BeginMove) -> QueueResult:
    queue = _queue(state, c.name)
    _cluster(state, c.target_cluster)
    if queue.lifecycle == "moving" and queue.move_target == c.target_cluster:
        return QueueResult(queue=queue, changed=False)
    if queue.lifecycle != "active":
        raise ConflictingState(f"queue {c.name!r} is {queue.lifecycle}", field="name")
    if queue.placement.cluster_id == c.target_cluster:
        raise InvalidParameter("the queue already lives there", field="target_cluster")
    queue = queue.model_copy(update={"lifecycle": "moving", "move_target": c.target_cluster})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def switch_placement(state: MetadataState, c: SwitchPlacement) -> QueueResult:
    queue = _queue(state, c.name, c.queue_id)
    if queue.lifecycle != "moving" or queue.move_target is None:
        raise ConflictingState(f"queue {c.name!r} is not moving", field="name")
    placement = Placement(cluster_id=queue.move_target, epoch=queue.placement.epoch + 1)
    queue = queue.model_copy(
        update={"placement": placement, "lifecycle": "active", "move_target": None}
    )
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def create_principal(state: MetadataState, c: CreatePrincipal) -> Done:
    if c.principal_id not in state.principals:
        state.principals[c.principal_id] = Principal(
            principal_id=c.principal_id, created_at_ms=c.now_ms
        )
    return Done()


def delete_principal(state: MetadataState, c: DeletePrincipal) -> Done:
    if c.principal_id not in state.principals:
        raise PrincipalNotFound(f"no principal {c.principal_id!r}", field="principal_id")
    del state.principals[c.principal_id]
    for key_id in [k for k, key in state.keys.items() if key.principal_id == c.principal_id]:
        del state.keys[key_id]
    state.grants = [g for g in state.grants if g.principal_id != c.principal_id]
    return Done()


def create_access_key(state: MetadataState, c: CreateAccessKey) -> Done:
    if c.principal_id not in state.principals:
        raise PrincipalNotFound(f"no principal {c.principal_id!r}", field="principal_id")
    if c.key_id in state.keys:
        raise ConflictingState(f"access key {c.key_id!r} exists", field="key_id")
    state.keys[c.key_id] = AccessKey(
        key_id=c.key_id,
        principal_id=c.principal_id,
        secret_ciphertext=c.secret_ciphertext,
        created_at_ms=c.now_ms,
    )
    return Done()


def revoke_access_key(state: MetadataState, c: RevokeAccessKey) -> Done:
    key = state.keys.get(c.key_id)
    if key is None:
        raise AccessKeyNotFound(f"no access key {c.key_id!r}", field="key_id")
    if key.revoked_at_ms is None:
        state.keys[c.key_id] = key.model_copy(update={"revoked_at_ms": c.now_ms})
    return Done()


def add_grant(state: MetadataState, c: AddGrant) -> Done:
    if c.grant.label is not None:
        raise InvalidParameter("labelled grants are added by AddLabelledGrants", field="grant")
    if c.grant.principal_id not in state.principals:
        raise PrincipalNotFound(f"no principal {c.grant.principal_id!r}", field="principal_id")
    if c.grant not in state.grants:
        state.grants.append(c.grant)
    return Done()


def remove_grant(state: MetadataState, c: RemoveGrant) -> Done:
    state.grants = [
        g
        for g in state.grants
        if not (
            g.principal_id == c.principal_id
            and g.queues == c.queues
            and (c.actions is None or g.actions == c.actions)
        )
    ]
    return Done()


def add_labelled_grants(state: MetadataState, c: AddLabelledGrants) -> Done:
    live_queue(state, c.queue, field="queue")
    for grant in c.grants:
        if grant.queues != c.queue or grant.label != c.label:
            raise InvalidParameter(
                "every grant names exactly the command's queue and carries its label",
                field="grants",
            )
        if grant.principal_id not in state.principals:
            raise PrincipalNotFound(f"no principal {grant.principal_id!r}", field="principal_id")
    if any(g.queues == c.queue and g.label == c.label for g in state.grants):
        raise InvalidParameter(
            f"the label {c.label!r} already exists on queue {c.queue!r}", field="label"
        )
    state.grants.extend(dict.fromkeys(c.grants))  # repeats once, in order
    return Done()


def remove_labelled_grants(state: MetadataState, c: RemoveLabelledGrants) -> Done:
    _queue(state, c.queue, field="queue")
    kept = [g for g in state.grants if not (g.queues == c.queue and g.label == c.label)]
    if len(kept) == len(state.grants):
        raise InvalidParameter(
            f"queue {c.queue!r} has no grants labelled {c.label!r}", field="label"
        )
    state.grants = kept
    return Done()


def tag_queue(state: MetadataState, c: TagQueue) -> QueueResult:
    queue = live_queue(state, c.name)
    tags = {**queue.tags, **c.tags}
    if len(tags) > limits.TAGS_PER_QUEUE_MAX:
        raise InvalidParameter(
            f"too many tags: a queue has at most {limits.TAGS_PER_QUEUE_MAX}", field="tags"
        )
    return _with_tags(state, queue, tags)


def untag_queue(state: MetadataState, c: UntagQueue) -> QueueResult:
    queue = live_queue(state, c.name)
    return _with_tags(state, queue, {k: v for k, v in queue.tags.items() if k not in c.keys})


def _with_tags(state: MetadataState, queue: Queue, tags: dict[str, str]) -> QueueResult:
    if tags == queue.tags:
        return QueueResult(queue=queue, changed=False)
    # Sorted as the model sorts them on validation (model_copy does not validate).
    queue = queue.model_copy(update={"tags": dict(sorted(tags.items()))})
    state.queues[queue.name] = queue
    return QueueResult(queue=queue, changed=True)


def set_redrive_allow_policy(state: MetadataState, c: SetRedriveAllowPolicy) -> QueueResult:
    queue = live_queue(state, c.name)
    if queue.redrive_allow == c.policy:
        return QueueResult(queue=queue, changed=False)
    queue = queue.model_copy(update={"redrive_allow": c.policy, "modified_at_ms": c.now_ms})
    state.queues[c.name] = queue
    return QueueResult(queue=queue, changed=True)


def _check_dead_letter(
    state: MetadataState,
    name: str,
    fifo: bool,
    redrive: RedrivePolicy | None,
    *,
    current: RedrivePolicy | None = None,
) -> None:
    """A DLQ exists, is not the queue itself, and matches its type. In the catalogue a redrive
    policy names its DLQ by queue name; the service gives backends its queue id.

    The DLQ's redrive allow policy must let this queue in, unless the queue already points at
    it (`current`): as in SQS, a policy set on a DLQ does not cut off the sources it has."""
    if redrive is None:
        return
    target_name = redrive.dead_letter_queue
    target = state.queues.get(target_name)
    if target is None or target_name == name or target.fifo != fifo:
        raise DeadLetterQueueInvalid(
            "the dead-letter queue must exist, be another queue, and be FIFO iff this one is",
            field="redrive",
        )
    already_there = current is not None and current.dead_letter_queue == target_name
    if not already_there and not target.allows_dead_letters_from(name):
        raise DeadLetterQueueInvalid(
            f"queue {target_name!r} does not allow {name!r} as a source: see its redrive "
            "allow policy",
            field="redrive",
        )

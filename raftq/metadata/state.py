"""The metadata service's replicated state, and its canonical bytes (for snapshots and for
comparing replicas)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack
from pydantic import TypeAdapter, ValidationError

from raftq.common.errors import CorruptState
from raftq.common.metadata_models import (
    AccessKey,
    AuditEntry,
    Cluster,
    FrontendRecord,
    Grant,
    MessageMoveTask,
    Principal,
    Queue,
    RetiredQueue,
)
from raftq.common.schedule_models import Schedule

# The audit trail keeps the most recent changes; older ones are gone with compacted log entries.
AUDIT_KEEP: Final = 10_000

# Version 2 added message move tasks (and fields with defaults on queues and grants); a version 1
# snapshot reads as one without tasks. Version 3 added retired queues' data keys, version 4
# frontend credentials, version 5 schedules.
_SNAPSHOT_VERSION = 5
_READABLE_VERSIONS = (1, 2, 3, 4, 5)
_CLUSTERS = TypeAdapter(tuple[Cluster, ...])
_QUEUES = TypeAdapter(tuple[Queue, ...])
_PRINCIPALS = TypeAdapter(tuple[Principal, ...])
_KEYS = TypeAdapter(tuple[AccessKey, ...])
_GRANTS = TypeAdapter(tuple[Grant, ...])
_AUDIT = TypeAdapter(tuple[AuditEntry, ...])
_MOVE_TASKS = TypeAdapter(tuple[MessageMoveTask, ...])
_RETIRED = TypeAdapter(tuple[RetiredQueue, ...])
_FRONTENDS = TypeAdapter(tuple[FrontendRecord, ...])
_SCHEDULES = TypeAdapter(tuple[Schedule, ...])


@dataclass
class MetadataState:
    clusters: dict[str, Cluster] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)  # by name
    principals: dict[str, Principal] = field(default_factory=dict)
    keys: dict[str, AccessKey] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    move_tasks: dict[str, MessageMoveTask] = field(default_factory=dict)  # by task handle
    retired: dict[str, RetiredQueue] = field(default_factory=dict)  # by queue id
    frontends: dict[str, FrontendRecord] = field(default_factory=dict)  # by frontend id
    schedules: dict[str, Schedule] = field(default_factory=dict)  # by name
    audit: deque[AuditEntry] = field(default_factory=lambda: deque(maxlen=AUDIT_KEEP))

    def queues_per_cluster(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for queue in self.queues.values():
            counts[queue.placement.cluster_id] = counts.get(queue.placement.cluster_id, 0) + 1
        return counts

    def to_bytes(self) -> bytes:
        """Canonical: equal states give equal bytes (dicts are sorted by key)."""

        def dump(items: Any) -> list[Any]:
            return [item.model_dump(mode="python") for item in items]

        packed: bytes = msgpack.packb(
            {
                "v": _SNAPSHOT_VERSION,
                "clusters": dump(v for _, v in sorted(self.clusters.items())),
                "queues": dump(v for _, v in sorted(self.queues.items())),
                "principals": dump(v for _, v in sorted(self.principals.items())),
                "keys": dump(v for _, v in sorted(self.keys.items())),
                "grants": dump(self.grants),
                "move_tasks": dump(v for _, v in sorted(self.move_tasks.items())),
                "retired": dump(v for _, v in sorted(self.retired.items())),
                "frontends": dump(v for _, v in sorted(self.frontends.items())),
                "schedules": dump(v for _, v in sorted(self.schedules.items())),
                "audit": dump(self.audit),
            },
            use_bin_type=True,
        )
        return packed

    @classmethod
    def from_bytes(cls, raw: bytes) -> MetadataState:
        try:
            # Arrays decode as tuples: the strict models take tuples, never lists.
            data = msgpack.unpackb(raw, raw=False, use_list=False)
            if data.get("v") not in _READABLE_VERSIONS:
                raise CorruptState(f"unknown metadata snapshot version {data.get('v')!r}")
            tasks = data["move_tasks"] if data["v"] > 1 else ()
            retired = data["retired"] if data["v"] > 2 else ()
            frontends = data["frontends"] if data["v"] > 3 else ()
            schedules = data["schedules"] if data["v"] > 4 else ()
            return cls(
                clusters={c.cluster_id: c for c in _CLUSTERS.validate_python(data["clusters"])},
                queues={q.name: q for q in _QUEUES.validate_python(data["queues"])},
                principals={
                    p.principal_id: p for p in _PRINCIPALS.validate_python(data["principals"])
                },
                keys={k.key_id: k for k in _KEYS.validate_python(data["keys"])},
                grants=list(_GRANTS.validate_python(data["grants"])),
                move_tasks={t.task_handle: t for t in _MOVE_TASKS.validate_python(tasks)},
                retired={r.queue_id: r for r in _RETIRED.validate_python(retired)},
                frontends={f.frontend_id: f for f in _FRONTENDS.validate_python(frontends)},
                schedules={s.name: s for s in _SCHEDULES.validate_python(schedules)},
                audit=deque(_AUDIT.validate_python(data["audit"]), maxlen=AUDIT_KEEP),
            )
        except (ValueError, TypeError, KeyError, AttributeError, ValidationError) as error:
            raise CorruptState(f"metadata snapshot does not decode: {error}") from None

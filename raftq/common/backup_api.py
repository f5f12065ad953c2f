"""Wire models of backups and restores (`raftq admin backup|restore`, docs/backup.md).

A backup reads a backend cluster's queues from one RocksDB snapshot of its leader, taken between
two applied entries, so every queue in it is as of one applied index of the cluster's log. The
snapshot lives on the leader as a *backup session* while the tool reads it out in chunks:

    POST /v1/backup/open    operators and nodes; BackupOpenRequest -> BackupOpened
    POST /v1/backup/chunk   operators and nodes; BackupChunkRequest -> BackupChunk
    POST /v1/backup/close   operators and nodes; BackupCloseRequest -> BackupClosed

A restore goes through the metadata leader, which catalogues the queue and prepares its replica
(`RestoreBeginRequest` / `RestoreFinishRequest` on `/v1/restore/begin|finish`), while the tool
files the records on the replica's cluster (`POST /v1/restore/records`, operators and nodes, an
`ImportRecords` of the restore's session: it writes only into the replica being restored).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from raftq.common.metadata_models import DataKey, Identifier, QueueName, RedriveAllowPolicy, Tags
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.wire import WireModel

BACKUP_OPEN_PATH = "/v1/backup/open"
BACKUP_CHUNK_PATH = "/v1/backup/chunk"
BACKUP_CLOSE_PATH = "/v1/backup/close"
RESTORE_RECORDS_PATH = "/v1/restore/records"
RESTORE_BEGIN_PATH = "/v1/restore/begin"
RESTORE_FINISH_PATH = "/v1/restore/finish"


class BackupOpenRequest(WireModel):
    """`queues`: the queue ids to back up; None: every queue the cluster serves."""

    queues: tuple[str, ...] | None = None


class BackedUpQueue(WireModel):
    """A replica's own record, as of the backup's applied index (the attributes name a
    dead-letter queue by its queue id, as a replica does)."""

    queue_id: str
    fifo: bool
    attributes: QueueAttributes
    created_at_ms: int
    created_index: int
    last_purge_at_ms: int | None


class BackupOpened(WireModel):
    session: str
    applied_index: int
    queues: tuple[BackedUpQueue, ...]


class BackupChunkRequest(WireModel):
    session: str
    queue: str
    after: bytes | None = None


class BackupChunk(WireModel):
    records: tuple[tuple[bytes, bytes], ...]  # portable keys (backend/keys.py)
    after: bytes | None  # the cursor to ask with next; None after the queue's last chunk


class BackupCloseRequest(WireModel):
    session: str


class BackupClosed(WireModel):
    closed: bool


class RestoreBeginRequest(WireModel):
    """Catalogue fields of the queue to restore, as the backup kept them."""

    actor: str
    name: QueueName
    cluster_id: Identifier | None = None
    fifo: bool
    attributes: QueueAttributes
    tags: Tags = Field(default_factory=dict)
    data_keys: tuple[DataKey, ...] = ()
    sealing_id: Identifier | None = None
    redrive_allow: RedriveAllowPolicy | None = None


class RestoreBegun(WireModel):
    queue_id: Identifier
    cluster_id: Identifier
    session: str
    members: tuple[str, ...]  # API addresses of the cluster's nodes (for the records)


class RestoreFinishRequest(WireModel):
    begin: RestoreBeginRequest
    begun: RestoreBegun
    records_total: Annotated[int, Field(ge=0)]
    created_at_ms: int
    created_index: Annotated[int, Field(ge=0)]
    last_purge_at_ms: int | None

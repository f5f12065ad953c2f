"""`raftq admin backup queue|cluster … --to DIR` and `raftq admin restore DIR` (docs/backup.md).

A backup reads its queues from one checkpoint of their cluster's leader (backend/backup_api.py):
every queue of it is as of one applied index of the cluster's log, and nothing is fenced, so the
queues go on serving. The catalogue records come from the metadata leader just before. Files
are written as backup_files.py says (checksums, a temporary name, fsyncs, a rename).

A restore checks the whole backup first (format, files, checksums) and that no queue name it
would make exists; only then does it change anything. Each queue is restored as a new queue
through the metadata leader (metadata/queue_restore.py); dead-letter queues of the backup come
before the queues that name them. Progress lines go to stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from raftq.client.admin_queues import Admin, progress
from raftq.client.backup_files import (
    CATALOGUE,
    FORMAT,
    FORMAT_VERSION,
    BackupWriter,
    check_target,
    read_records,
    records_file,
    refused,
    verify,
)
from raftq.common import codec, limits
from raftq.common.backend_client import NodeClient
from raftq.common.backup_api import (
    BACKUP_CHUNK_PATH,
    BACKUP_CLOSE_PATH,
    BACKUP_OPEN_PATH,
    RESTORE_BEGIN_PATH,
    RESTORE_FINISH_PATH,
    RESTORE_RECORDS_PATH,
    BackedUpQueue,
    BackupChunk,
    BackupChunkRequest,
    BackupCloseRequest,
    BackupOpened,
    BackupOpenRequest,
    RestoreBeginRequest,
    RestoreBegun,
    RestoreFinishRequest,
)
from raftq.common.commands import ImportRecords
from raftq.common.credentials import Credential
from raftq.common.errors import (
    ClusterNotFound,
    ConflictingState,
    DeadLetterQueueInvalid,
    QueueAlreadyExists,
    QueueNotFound,
    RaftqError,
)
from raftq.common.metadata_api import MetadataResponse
from raftq.common.metadata_models import Queue
from raftq.common.metadata_results import QueueResult


class BackupAdmin(Admin, Protocol):
    """admin.py's session, with what a backup needs to reach backend nodes."""

    credential: Credential | None
    session: aiohttp.ClientSession
    tls: ssl.SSLContext | None


def add_backup_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = areas.add_parser("backup", help="copy queues, consistently, to a directory")
    scopes = backup.add_subparsers(dest="verb", required=True)
    one = scopes.add_parser("queue", help="one queue")
    one.add_argument("name", help="the queue's name")
    whole = scopes.add_parser("cluster", help="every queue of a backend cluster")
    whole.add_argument("cluster_id", help="e.g. c1")
    for parser in (one, whole):
        parser.add_argument("--to", required=True, type=Path, help="a new (or empty) directory")
    restore = areas.add_parser("restore", help="make new queues from a backup")
    restore.add_argument("directory", type=Path, help="the backup's directory")
    restore.add_argument("--as", dest="as_name", help="restore the backup's one queue as NAME")
    restore.add_argument("--cluster", help="the backend cluster to restore to (default: placed)")


async def run_backup(admin: BackupAdmin, args: argparse.Namespace) -> dict[str, Any]:
    target: Path = args.to
    check_target(target)
    if args.verb == "queue":
        found = await admin.get(f"/v1/queues/{args.name}", leader_only=True)
        queues = [Queue.model_validate_json(json.dumps(found["queue"]))]
        cluster = found["cluster"]
        if cluster is None:
            raise ClusterNotFound(f"queue {args.name!r} is placed on an unknown cluster")
        _require_active(queues[0])
    else:
        catalogue = await admin.get("/v1/catalogue", leader_only=True)
        clusters = [c for c in catalogue["clusters"] if c["cluster_id"] == args.cluster_id]
        if not clusters:
            raise ClusterNotFound(f"no backend cluster {args.cluster_id!r}", field="cluster_id")
        cluster = clusters[0]
        queues = []
        for raw in catalogue["queues"]:
            queue = Queue.model_validate_json(json.dumps(raw))
            if queue.placement.cluster_id != args.cluster_id:
                continue
            if queue.lifecycle == "active":
                queues.append(queue)
            else:
                progress(f"skipping queue {queue.name}: it is {queue.lifecycle}")
    backend = NodeClient(
        [m["api_address"] for m in cluster["members"]],
        admin.credential,
        admin.session,
        tls=admin.tls,
        timeout_s=60.0,
    )
    request = BackupOpenRequest(queues=tuple(q.queue_id for q in queues))
    opened = codec.decode(await backend.call(BACKUP_OPEN_PATH, codec.encode(request)), BackupOpened)
    progress(
        f"backing up {len(queues)} queue(s) of cluster {cluster['cluster_id']} "
        f"as of applied index {opened.applied_index}"
    )
    writer = BackupWriter(target)
    try:
        rows = await _read_out(backend, opened, queues, writer)
        writer.write_json(CATALOGUE, {"queues": [q.model_dump(mode="json") for q in queues]})
        now = time.time()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "scope": args.verb,
            "cluster_id": cluster["cluster_id"],
            "applied_index": opened.applied_index,
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(),
            "created_at_ms": int(now * 1000),
            "queues": rows,
        }
        writer.commit(manifest)
    except BaseException:
        writer.abandon()
        raise
    finally:  # the leader drops an idle session by itself; closing frees its disk now
        with contextlib.suppress(RaftqError, aiohttp.ClientError):
            close = BackupCloseRequest(session=opened.session)
            await backend.call(BACKUP_CLOSE_PATH, codec.encode(close))
    progress(f"backup written to {target}")
    return {
        "backup": str(target),
        "cluster_id": cluster["cluster_id"],
        "applied_index": opened.applied_index,
        "queues": [{"name": r["name"], "records": r["records"]} for r in rows],
    }


def _require_active(queue: Queue) -> None:
    if queue.lifecycle != "active":
        raise ConflictingState(
            f"queue {queue.name!r} is {queue.lifecycle}: back it up once it is active",
            field="name",
        )


async def _read_out(
    backend: NodeClient, opened: BackupOpened, queues: list[Queue], writer: BackupWriter
) -> list[dict[str, Any]]:
    replicas = {r.queue_id: r for r in opened.queues}
    rows = []
    for queue in queues:
        records = writer.records(queue.queue_id)
        after: bytes | None = None
        while True:
            request = BackupChunkRequest(session=opened.session, queue=queue.queue_id, after=after)
            raw = await backend.call(BACKUP_CHUNK_PATH, codec.encode(request))
            chunk = codec.decode(raw, BackupChunk)
            for key, value in chunk.records:
                records.add(key, value)
            if chunk.after is None:
                break
            after = chunk.after
        writer.closed(records_file(queue.queue_id), records.close())
        progress(f"{queue.name}: {records.records} records")
        rows.append(
            {
                "name": queue.name,
                "queue_id": queue.queue_id,
                "records": records.records,
                "file": records_file(queue.queue_id),
                "replica": replicas[queue.queue_id].model_dump(mode="json"),
            }
        )
    return rows


async def run_restore(admin: BackupAdmin, args: argparse.Namespace) -> dict[str, Any]:
    directory: Path = args.directory
    manifest = verify(directory)
    catalogue = json.loads((directory / CATALOGUE).read_bytes())
    sources = {
        q.queue_id: q
        for q in (Queue.model_validate_json(json.dumps(raw)) for raw in catalogue["queues"])
    }
    rows = manifest["queues"]
    if args.as_name is not None and len(rows) != 1:
        raise refused(f"--as names one queue; the backup in {directory} holds {len(rows)}")
    names = {row["queue_id"]: args.as_name or row["name"] for row in rows}
    for name in names.values():  # before anything changes
        try:
            await admin.get(f"/v1/queues/{name}", leader_only=True)
        except QueueNotFound:
            continue
        raise QueueAlreadyExists(
            f"queue {name!r} exists: a restore makes a new queue and refuses an existing name, "
            "even an empty queue's (delete it first, or restore --as a new name)",
            field="name",
        )
    restoring = {sources[row["queue_id"]].name for row in rows}
    for row in rows:  # a dead-letter queue outside the backup must exist on the target
        source = sources[row["queue_id"]]
        redrive = source.attributes.redrive
        if redrive is None or redrive.dead_letter_queue in restoring:
            continue
        try:
            await admin.get(f"/v1/queues/{redrive.dead_letter_queue}", leader_only=True)
        except QueueNotFound:
            raise DeadLetterQueueInvalid(
                f"queue {names[source.queue_id]!r} names the dead-letter queue "
                f"{redrive.dead_letter_queue!r}, which does not exist: restore (or create) it "
                "first",
                field="redrive",
            ) from None
    restored = []
    for row in _dead_letter_queues_first(rows, sources):
        restored.append(
            await _restore_one(
                admin, args, directory=directory, row=row, sources=sources, names=names
            )
        )
    return {"restored": restored, "applied_index": manifest["applied_index"]}


def _dead_letter_queues_first(
    rows: list[dict[str, Any]], sources: dict[str, Queue]
) -> list[dict[str, Any]]:
    by_name = {sources[row["queue_id"]].name: row for row in rows}
    ordered: list[dict[str, Any]] = []

    def visit(row: dict[str, Any], seen: set[str]) -> None:
        if row in ordered or row["name"] in seen:
            return
        redrive = sources[row["queue_id"]].attributes.redrive
        if redrive is not None and redrive.dead_letter_queue in by_name:
            visit(by_name[redrive.dead_letter_queue], seen | {row["name"]})
        ordered.append(row)

    for row in rows:
        visit(row, set())
    return ordered


async def _restore_one(
    admin: BackupAdmin,
    args: argparse.Namespace,
    *,
    directory: Path,
    row: dict[str, Any],
    sources: dict[str, Queue],
    names: dict[str, str],
) -> dict[str, Any]:
    source = sources[row["queue_id"]]
    replica = BackedUpQueue.model_validate(row["replica"])
    begin = RestoreBeginRequest(
        actor=str(args.actor),
        name=names[source.queue_id],
        cluster_id=args.cluster,
        fifo=source.fifo,
        attributes=source.attributes,
        tags=source.tags,
        data_keys=source.data_keys,
        sealing_id=source.sealing_identity if source.data_keys else None,
        redrive_allow=source.redrive_allow,
    )
    raw = await admin.client.call(RESTORE_BEGIN_PATH, codec.encode(begin))
    begun = codec.decode(raw, RestoreBegun)
    progress(f"restoring {source.name} as {begin.name} on cluster {begun.cluster_id}")
    backend = NodeClient(
        list(begun.members), admin.credential, admin.session, tls=admin.tls, timeout_s=60.0
    )
    total = 0
    batch: list[tuple[bytes, bytes]] = []
    size = 0

    async def file(records: list[tuple[bytes, bytes]]) -> None:
        command = ImportRecords(
            now_ms=int(time.time() * 1000),
            queue=begun.queue_id,
            session=begun.session,
            records=tuple(records),
        )
        await backend.call(RESTORE_RECORDS_PATH, codec.encode(command))

    for key, value in read_records(directory / row["file"]):
        full = size + len(key) + len(value) > limits.MOVE_CHUNK_MAX_BYTES
        if batch and (full or len(batch) >= limits.MOVE_CHUNK_MAX_RECORDS):
            await file(batch)
            batch, size = [], 0
        batch.append((key, value))
        size += len(key) + len(value)
        total += 1
    if batch:
        await file(batch)
    progress(f"{begin.name}: {total} records filed")
    finish = RestoreFinishRequest(
        begin=begin,
        begun=begun,
        records_total=total,
        created_at_ms=replica.created_at_ms,
        created_index=replica.created_index,
        last_purge_at_ms=replica.last_purge_at_ms,
    )
    raw = await admin.client.call(RESTORE_FINISH_PATH, codec.encode(finish))
    result = codec.decode(raw, MetadataResponse).result
    assert isinstance(result, QueueResult), result
    return {
        "name": begin.name,
        "from": source.name,
        "queue_id": result.queue.queue_id,
        "cluster_id": begun.cluster_id,
        "records": total,
    }


def backed_up(args: argparse.Namespace, output: dict[str, Any]) -> str:
    """Human output of `backup` (admin_output.py)."""
    queues = ", ".join(f"{q['name']} ({q['records']} records)" for q in output["queues"])
    return (
        f"backed up cluster {output['cluster_id']} at applied index {output['applied_index']} "
        f"to {output['backup']}: {queues or 'no queues'}"
    )


def restored(args: argparse.Namespace, output: dict[str, Any]) -> str:
    """Human output of `restore` (admin_output.py)."""
    lines = [
        f"restored {r['from']} as {r['name']} on cluster {r['cluster_id']} ({r['records']} records)"
        for r in output["restored"]
    ]
    return "\n".join(lines) or "nothing to restore"

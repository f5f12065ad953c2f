"""`raftq admin …`: manage the catalogue (queues, clusters, principals, keys, grants) and see Raft.

It finds the metadata group from `--metadata` (repeatable) or `RAFTQ_METADATA` (comma-separated
API addresses) and signs with the operator secret from `--operator-secret-file` or
`RAFTQ_OPERATOR_SECRET` (never the cluster secret, which only nodes hold).
With `--tls-ca-file` or `RAFTQ_TLS_CA_FILE` it calls the nodes over TLS, verifying their
certificates against that CA (common/internal_tls.py).
Output is for people (a table, a field list or a sentence: admin_output.py), or JSON with
`--json`, whose shape scripts may rely on (tests/integration/admin_json_shapes.json). Exit codes:
0 done, 1 refused (the request was wrong or does not fit the state; one line says why), 2 usage,
3 unavailable (no member answered), 4 authentication failed (no operator secret, or not the one
the nodes hold).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from raftq.client.admin_backup import add_backup_commands, run_backup, run_restore
from raftq.client.admin_frontends import add_frontend_commands, run_frontends
from raftq.client.admin_members import (
    add_member_commands,
    add_step_down_command,
    run_members,
    run_step_down,
)
from raftq.client.admin_output import render
from raftq.client.admin_queues import (
    add_queue_commands,
    add_wait_flags,
    cluster_row,
    drain_cluster,
    progress,
    run_queues,
)
from raftq.client.admin_schedules import add_schedule_commands, run_schedules
from raftq.common import codec, internal_tls
from raftq.common.cluster_auth import HEADER, sign
from raftq.common.credentials import OPERATOR, Credential
from raftq.common.envelope import Keyring, WrappedKey
from raftq.common.errors import (
    ClientError,
    ClusterNotFound,
    CorruptState,
    CredentialRefused,
    PeerError,
    QueueNotFound,
)
from raftq.common.metadata_api import CreateKeyRequest, MetadataClient
from raftq.common.metadata_commands import (
    AddGrant,
    CreatePrincipal,
    DeletePrincipal,
    RemoveGrant,
    RevokeAccessKey,
    RewrapDataKey,
)
from raftq.common.metadata_models import DataKey, Grant, Queue, RetiredQueue
from raftq.common.node_api import NodeError
from raftq.common.queue_names import named_error
from raftq.common.results import Failure

EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_UNAUTHENTICATED = 1, 2, 3, 4


_PRINCIPAL = "the principal's id"


def add_admin_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = commands.add_parser("admin", help="manage queues, clusters, principals, keys, grants")
    admin.add_argument("--metadata", action="append", default=[], help="a metadata API address")
    admin.add_argument(
        "--operator-secret-file",
        type=Path,
        help="file holding the operator secret (or RAFTQ_OPERATOR_SECRET)",
    )
    internal_tls.add_tls_options(admin, serves=False)
    admin.add_argument("--json", action="store_true", help="print JSON for scripts")
    admin.add_argument("--actor", default="admin", help="who is acting, for the audit trail")
    areas = admin.add_subparsers(dest="area", required=True)

    add_queue_commands(areas)
    add_frontend_commands(areas)
    add_schedule_commands(areas)
    add_backup_commands(areas)

    clusters = areas.add_parser("clusters").add_subparsers(dest="verb", required=True)
    clusters.add_parser("list")
    clusters.add_parser("show").add_argument("cluster_id", help="e.g. c1")
    drain = clusters.add_parser("drain")
    drain.add_argument("cluster_id", help="the cluster to drain, e.g. c2")
    drain.add_argument("--undo", action="store_true", help="take new queues again")
    add_wait_flags(drain)

    principals = areas.add_parser("principals").add_subparsers(dest="verb", required=True)
    principals.add_parser("create").add_argument("principal_id", help=_PRINCIPAL)
    principals.add_parser("list")
    principals.add_parser("delete").add_argument("principal_id", help=_PRINCIPAL)

    keys = areas.add_parser("keys").add_subparsers(dest="verb", required=True)
    keys.add_parser("create").add_argument("principal_id", help=_PRINCIPAL)
    keys.add_parser("revoke").add_argument("key_id", help="the access key id")
    keys_list = keys.add_parser("list", help="access keys: id, principal, created, state")
    keys_list.add_argument("--principal", help="only this principal's keys")

    grants = areas.add_parser("grants").add_subparsers(dest="verb", required=True)
    add = grants.add_parser("add")
    add.add_argument("principal_id", help=_PRINCIPAL)
    add.add_argument("queues", help="a queue name, or a prefix ending in *")
    add.add_argument(
        "actions",
        nargs="+",
        choices=["send", "receive", "delete", "admin"],
        help="what the grant allows",
    )
    remove = grants.add_parser("remove")
    remove.add_argument("principal_id", help=_PRINCIPAL)
    remove.add_argument("queues", help="the queue pattern of the grant, as it was added")
    grants.add_parser("list")

    data_keys = areas.add_parser("data-keys").add_subparsers(dest="verb", required=True)
    rewrap = data_keys.add_parser(
        "rewrap", help="rewrap every queue's data keys under the current master key (rotation)"
    )
    rewrap.add_argument(
        "--master-key",
        action="append",
        required=True,
        metavar="ID=FILE",
        help="a master key and its file (repeat: every key still in use)",
    )
    rewrap.add_argument(
        "--current-master-key", required=True, help="the ID of the key to wrap data keys under"
    )

    raft = areas.add_parser("raft").add_subparsers(dest="verb", required=True)
    raft.add_parser("status")
    add_step_down_command(raft)
    add_member_commands(areas)
    areas.add_parser("audit")


def run_admin_command(args: argparse.Namespace) -> int:
    if args.area == "schedules":  # through the REST API with a key (admin_schedules.py)
        return run_schedules(args)
    members = args.metadata or [
        a for a in os.environ.get("RAFTQ_METADATA", "").split(",") if a.strip()
    ]
    secret = os.environ.get("RAFTQ_OPERATOR_SECRET")
    if args.operator_secret_file is not None:
        secret = args.operator_secret_file.read_text().strip()
    # A node's own hand-over (a Kubernetes preStop hook) needs no metadata address.
    alone = args.area == "raft" and args.verb == "step-down" and args.node is not None
    if not members and not alone:
        print("raftq admin: no metadata address (--metadata or RAFTQ_METADATA)", file=sys.stderr)
        return EXIT_USAGE
    members = members or [args.node]  # the node's own API, which answers for itself
    try:
        tls = internal_tls.tls_from_args(args, environment=True).client_context()
    except internal_tls.TlsFilesError as error:
        print(f"raftq admin: {error}", file=sys.stderr)
        return EXIT_USAGE
    # A node whose certificate is refused is named on stderr (backend_client.py logs it).
    logging.basicConfig(level=logging.WARNING, format="raftq admin: %(message)s")
    try:
        output = asyncio.run(_run(args, members, secret, tls))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"raftq admin: refused: {first['msg']} ({where})", file=sys.stderr)
        return EXIT_REFUSED
    except CredentialRefused as error:
        hint = (
            ""
            if secret
            else " (no operator secret: --operator-secret-file or RAFTQ_OPERATOR_SECRET)"
        )
        print(f"raftq admin: authentication failed: {error.message}{hint}", file=sys.stderr)
        return EXIT_UNAUTHENTICATED
    except ClientError as error:
        print(f"raftq admin: refused: {error.message} [{error.code}]", file=sys.stderr)
        return EXIT_REFUSED
    except (PeerError, aiohttp.ClientError, OSError) as error:
        print(f"raftq admin: unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        print(json.dumps(output, indent=2, sort_keys=True))
    else:
        print(render(args, output))
    return 0


class _Admin:
    def __init__(
        self,
        members: list[str],
        secret: str | None,
        session: aiohttp.ClientSession,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.members = members
        self.credential = None if secret is None else Credential(OPERATOR, secret.encode())
        self.session = session
        self.tls = tls
        self.client = MetadataClient(members, self.credential, session, tls=tls)

    async def get(
        self, path: str, address: str | None = None, *, leader_only: bool = False
    ) -> dict[str, Any]:
        """A signed GET from the first member that answers; `leader_only` skips followers'
        answers (they may lag the leader's by a few entries)."""
        for member in [address] if address else self.members:
            headers = {}
            if self.credential is not None:
                now_ms = time.time_ns() // 1_000_000
                headers[HEADER] = sign(
                    self.credential.secret, "GET", path, now_ms, b"", caller=OPERATOR
                )
            try:
                async with self.session.get(
                    self.client.url(member, path),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=5),
                    ssl=self.client.ssl_argument,
                ) as response:
                    if response.status == 200:
                        payload: dict[str, Any] = await response.json()
                        if leader_only and payload.get("served_by") != "leader":
                            continue
                        return payload
                    if response.status == 404:
                        raise not_found(path)
                    if response.status in (401, 403):
                        refused = codec.decode(await response.read(), NodeError)
                        raise CredentialRefused(
                            f"metadata member {member} refused the operator secret: "
                            f"{refused.message}"
                        )
            except aiohttp.ClientConnectorError as error:
                self.client.tls_refused(member, error)
                continue
        raise PeerError(f"no metadata member answered {path}")

    async def command(self, command: Any) -> Any:
        result = await self.client.execute(command)
        if isinstance(result, Failure):
            raise result.to_error()
        return result


def not_found(path: str) -> ClientError:
    name = path.rsplit("/", 1)[-1]
    if path.startswith("/v1/queues/"):
        return QueueNotFound(f"queue {name!r} does not exist", field="name")
    return ClientError(f"{name} does not exist")


async def _run(
    args: argparse.Namespace, members: list[str], secret: str | None, tls: ssl.SSLContext | None
) -> Any:
    async with aiohttp.ClientSession() as session:
        admin = _Admin(members, secret, session, tls)
        area, verb, actor = str(args.area), str(getattr(args, "verb", "")), str(args.actor)
        if area == "queues":
            return await run_queues(admin, args, verb, actor)
        if area == "clusters":
            catalogue = await admin.get("/v1/catalogue")
            if verb == "list":
                return [cluster_row(c) for c in catalogue["clusters"]]
            if verb == "show":
                found = [c for c in catalogue["clusters"] if c["cluster_id"] == args.cluster_id]
                if not found:
                    raise ClusterNotFound(f"no backend cluster {args.cluster_id!r}")
                return found[0]
            return await drain_cluster(admin, args, actor)
        if area == "principals":
            if verb == "list":
                catalogue = await admin.get("/v1/catalogue")
                return [{"principal_id": p} for p in catalogue["principals"]]
            kind = CreatePrincipal if verb == "create" else DeletePrincipal
            await admin.command(kind(now_ms=0, actor=actor, principal_id=args.principal_id))
            return {"principal_id": args.principal_id, "done": verb}
        if area == "keys":
            if verb == "list":
                return _keys(await admin.get("/v1/catalogue"), args.principal)
            if verb == "create":
                created = await admin.client.create_key(
                    CreateKeyRequest(actor=actor, principal_id=args.principal_id)
                )
                return created.model_dump()
            await admin.command(RevokeAccessKey(now_ms=0, actor=actor, key_id=args.key_id))
            return {"key_id": args.key_id, "revoked": True}
        if area == "grants":
            if verb == "list":
                return (await admin.get("/v1/catalogue"))["grants"]
            if verb == "add":
                grant = Grant(
                    principal_id=args.principal_id, queues=args.queues, actions=tuple(args.actions)
                )
                await admin.command(AddGrant(now_ms=0, actor=actor, grant=grant))
                return grant.model_dump(mode="json")
            await admin.command(
                RemoveGrant(
                    now_ms=0, actor=actor, principal_id=args.principal_id, queues=args.queues
                )
            )
            return {"principal_id": args.principal_id, "queues": args.queues, "removed": True}
        if area == "raft" and verb == "step-down":
            return await run_step_down(admin, args)
        if area == "raft":
            return await _raft_status(admin)
        if area == "members":
            return await run_members(admin, args, actor)
        if area == "frontends":
            return await run_frontends(admin, args, verb, actor)
        if area == "backup":
            return await run_backup(admin, args)
        if area == "restore":
            return await run_restore(admin, args)
        if area == "data-keys":
            return await _rewrap_data_keys(admin, args, actor)
        return (await admin.get("/v1/audit"))["audit"]


async def _rewrap_data_keys(admin: _Admin, args: argparse.Namespace, actor: str) -> Any:
    """A master-key rotation's middle step: every data key not wrapped by the current master key
    is unwrapped with the old one and stored wrapped by the new. Messages are untouched."""
    master_keys: dict[str, bytes] = {}
    for spec in args.master_key:
        key_id, _, path = spec.partition("=")
        try:
            master_keys[key_id] = bytes.fromhex(Path(path).read_text().strip())
        except (OSError, ValueError) as error:
            raise ClientError(f"cannot read master key {key_id!r}: {error}") from None
    try:
        keyring = Keyring(master_keys, args.current_master_key)
    except ValueError as error:
        raise ClientError(str(error)) from None
    catalogue = await admin.get("/v1/catalogue", leader_only=True)
    rewrapped = 0
    # Live queues, and deleted ones whose keys still open their dead-lettered messages.
    queues: list[Queue | RetiredQueue] = [
        Queue.model_validate_json(json.dumps(raw)) for raw in catalogue["queues"]
    ]
    queues += [
        RetiredQueue.model_validate_json(json.dumps(raw))
        for raw in catalogue.get("retired_queues", [])
    ]
    for queue in queues:
        for key in queue.data_keys:
            if key.master_key_id == keyring.current:
                continue
            try:
                new = keyring.rewrap(
                    queue.sealing_identity, key.version, WrappedKey(key.master_key_id, key.wrapped)
                )
            except CorruptState as error:
                named_error(error, queue.queue_id, f"queue {queue.name!r}")
                raise ClientError(error.message) from None
            await admin.command(
                RewrapDataKey(
                    now_ms=0,
                    actor=actor,
                    name=queue.name,
                    queue_id=queue.queue_id,
                    key=DataKey(
                        version=key.version, master_key_id=new.master_key_id, wrapped=new.blob
                    ),
                )
            )
            rewrapped += 1
            progress(f"{queue.name}: data key {key.version} rewrapped under {keyring.current}")
    return {"rewrapped": rewrapped, "current_master_key": keyring.current}


async def _raft_status(admin: _Admin) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str, list[str]]] = [("metadata", admin.members)]
    catalogue = await admin.get("/v1/catalogue")
    groups += [
        (c["cluster_id"], [m["api_address"] for m in c["members"]]) for c in catalogue["clusters"]
    ]
    for group, addresses in groups:
        for address in addresses:
            try:
                status = await admin.get("/v1/status", address)
            except (PeerError, ClientError, aiohttp.ClientError, OSError):
                rows.append({"group": group, "node": address, "role": "unreachable"})
                continue
            rows.append(
                {
                    "group": group,
                    "node": status.get("node_id", address),
                    "zone": status.get("zone"),
                    "role": "leader" if status["is_leader"] else "follower",
                    "term": status["term"],
                    "commit": status["commit_index"],
                    "applied": status["machine_applied_index"],
                    "lag": (status["commit_index"] or 0) - (status["last_applied"] or 0),
                }
            )
    return rows


def _keys(catalogue: dict[str, Any], principal: str | None) -> list[dict[str, Any]]:
    """Access keys as `keys list` shows them (the catalogue never holds their secrets)."""
    keys = [k for k in catalogue["keys"] if principal is None or k["principal_id"] == principal]
    return [
        {
            "key_id": k["key_id"],
            "principal_id": k["principal_id"],
            "created_at_ms": k["created_at_ms"],
            "revoked_at_ms": k["revoked_at_ms"],
            "state": "active" if k["revoked_at_ms"] is None else "revoked",
        }
        for k in sorted(keys, key=lambda k: (k["principal_id"], k["created_at_ms"], k["key_id"]))
    ]

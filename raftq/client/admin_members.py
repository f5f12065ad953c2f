"""`raftq admin members list|add|remove|replace GROUP …` and `raftq admin raft step-down`:
membership changes of a Raft group (the metadata group, or a backend cluster by its id), one
at a time, with progress on standard error (docs/operations.md says when to use which).

- `add` asks the group's leader to add a node that already runs (started with `--join`),
  then follows it until it has caught up.
- `remove` hands leadership over first when the node to remove leads.
- `replace OLD` removes OLD, then adds its replacement (by default a node at OLD's addresses
  with an empty disk): removing first keeps the group's quorum on the members that answer
  while the replacement catches up.
For a backend cluster, the metadata group's record of its members follows each change, so
frontends find the new member.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, Protocol

import aiohttp

from raftq.common import codec
from raftq.common.cluster_auth import HEADER, sign
from raftq.common.credentials import OPERATOR, Credential
from raftq.common.errors import (
    ClientError,
    ClusterNotFound,
    ConflictingState,
    InvalidParameter,
    NotLeader,
    PeerError,
    UpgradeInProgress,
)
from raftq.common.metadata_api import MetadataClient
from raftq.common.metadata_commands import SetClusterMembers
from raftq.common.metadata_models import ClusterMember
from raftq.common.node_api import NodeError

METADATA_GROUP = "metadata"
# A new member catching up by snapshot: a large state takes minutes to copy.
CATCH_UP_TIMEOUT_S = 600.0
_POLL_S = 0.5
# A node started just before the command may take a few seconds to answer.
START_WAIT_S = 20.0


class Admin(Protocol):
    members: list[str]
    credential: Credential | None
    session: aiohttp.ClientSession
    client: MetadataClient

    async def get(self, path: str, address: str | None = None) -> dict[str, Any]: ...

    async def command(self, command: Any) -> Any: ...


def add_member_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    members = areas.add_parser("members", help="add, remove or replace a Raft group's members")
    verbs = members.add_subparsers(dest="verb", required=True)
    group_help = f"{METADATA_GROUP!r} or a backend cluster id, e.g. c1"
    verbs.add_parser("list").add_argument("group", help=group_help)
    add = verbs.add_parser("add", help="add a running node (started with --join)")
    add.add_argument("group", help=group_help)
    _member_options(add, required=True)
    remove = verbs.add_parser("remove", help="remove a member (its process may then stop)")
    remove.add_argument("group", help=group_help)
    remove.add_argument("node_id", help="the member to remove")
    replace = verbs.add_parser(
        "replace", help="remove a member, then add its replacement (same addresses by default)"
    )
    replace.add_argument("group", help=group_help)
    replace.add_argument("node_id", help="the member to replace")
    _member_options(replace, required=False)


def add_step_down_command(raft: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    step_down = raft.add_parser("step-down", help="hand a group's leadership to another member")
    where = step_down.add_mutually_exclusive_group(required=True)
    where.add_argument("--node", help="this node's API address (HOST:PORT): steps down if it leads")
    where.add_argument("--group", help=f"{METADATA_GROUP!r} or a cluster id: its leader steps down")


def _member_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    same = "" if required else " (default: the replaced member's)"
    parser.add_argument("--new-node-id", required=required, help=f"the node's id{same}")
    parser.add_argument("--zone", required=required, help=f"its zone{same}")
    parser.add_argument("--raft-address", required=required, help=f"its Raft HOST:PORT{same}")
    parser.add_argument("--api-address", required=required, help=f"its API HOST:PORT{same}")


async def run_members(admin: Admin, args: argparse.Namespace, actor: str) -> Any:
    group = _Group(admin, str(args.group))
    if args.verb == "list":
        return await group.table()
    if args.verb == "add":
        new = _new_member(args, None)
        await _answering(admin, new)
        return await group.add(new, actor)
    if args.verb == "remove":
        return await group.remove(str(args.node_id), actor)
    old = await group.member(str(args.node_id))
    new = _new_member(args, old)
    await _answering(admin, new)  # before anything changes
    await group.remove(old.node_id, actor)
    return await group.add(new, actor)


async def run_step_down(admin: Admin, args: argparse.Namespace) -> Any:
    if args.node is not None:
        return await _step_down(admin, str(args.node))
    group = _Group(admin, str(args.group))
    return await _step_down(admin, await group.leader())


def _new_member(args: argparse.Namespace, old: ClusterMember | None) -> ClusterMember:
    def value(name: str, old_value: str | None) -> str:
        given = getattr(args, name)
        if given is None and old_value is None:
            raise InvalidParameter(f"--{name.replace('_', '-')} is required", field=name)
        return str(given if given is not None else old_value)

    return ClusterMember(
        node_id=value("new_node_id", None if old is None else old.node_id),
        zone=value("zone", None if old is None else old.zone),
        raft_address=value("raft_address", None if old is None else old.raft_address),
        api_address=value("api_address", None if old is None else old.api_address),
    )


def progress(text: str) -> None:
    print(f"raftq admin: {text}", file=sys.stderr, flush=True)


class _Group:
    def __init__(self, admin: Admin, name: str) -> None:
        self.admin = admin
        self.name = name

    async def addresses(self) -> list[str]:
        """API addresses of the members as recorded (the metadata group: `--metadata`, and
        every member they name)."""
        if self.name == METADATA_GROUP:
            known = list(self.admin.members)
            for address in list(known):
                status = await _status_or_none(self.admin, address)
                for row in (status or {}).get("members", []):
                    if row.get("api_address") and row["api_address"] not in known:
                        known.append(row["api_address"])
            return known
        return [m.api_address for m in await self._recorded()]

    async def _recorded(self) -> tuple[ClusterMember, ...]:
        catalogue = await self.admin.get("/v1/catalogue")
        for cluster in catalogue["clusters"]:
            if cluster["cluster_id"] == self.name:
                return tuple(ClusterMember.model_validate(m) for m in cluster["members"])
        raise ClusterNotFound(
            f"no group {self.name!r}: name {METADATA_GROUP!r} or a backend cluster id",
            field="group",
        )

    async def leader(self) -> str:
        for address in await self.addresses():
            status = await _status_or_none(self.admin, address)
            if status is not None and status.get("is_leader"):
                return address
        raise PeerError(f"no member of {self.name!r} leads now (electing?); try again")

    async def member(self, node_id: str) -> ClusterMember:
        for row in (await self._leader_status())["members"]:
            if row["node_id"] == node_id:
                return _member_of(row)
        raise InvalidParameter(f"{node_id!r} is not a member of {self.name!r}", field="node_id")

    async def _leader_status(self) -> dict[str, Any]:
        leader = await self.leader()
        status = await _status_or_none(self.admin, leader)
        if status is None:
            raise PeerError(f"the leader of {self.name!r} ({leader}) stopped answering")
        return status

    async def table(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for row in (await self._leader_status())["members"]:
            status = None
            if row.get("api_address"):
                status = await _status_or_none(self.admin, row["api_address"])
            rows.append(
                {
                    "group": self.name,
                    "node_id": row["node_id"],
                    "zone": row["zone"],
                    "raft_address": row["raft_address"],
                    "api_address": row["api_address"],
                    "role": _role(status),
                    "answering": row.get("answering"),
                    "applied": None if status is None else status["last_applied"],
                }
            )
        return rows

    async def add(self, member: ClusterMember, actor: str) -> list[dict[str, Any]]:
        progress(f"{self.name}: adding {member.node_id} ({member.raft_address})")
        body = {"action": "add", "member": member.model_dump()}
        await self._on_leader("/v1/raft/members", body)
        progress(f"{self.name}: {member.node_id} added; catching up")
        await self._caught_up(member)
        await self._record(actor)
        progress(f"{self.name}: {member.node_id} has caught up and votes")
        return await self.table()

    async def remove(self, node_id: str, actor: str) -> list[dict[str, Any]]:
        member = await self.member(node_id)
        if member.api_address == await self.leader():
            progress(f"{self.name}: {node_id} leads; handing leadership over first")
            moved = await _step_down(self.admin, member.api_address)
            if not moved["moved"]:
                raise PeerError(f"{node_id} could not hand leadership over; nothing changed")
        progress(f"{self.name}: removing {node_id} ({member.raft_address})")
        await self._on_leader("/v1/raft/members", {"action": "remove", "node_id": node_id})
        await self._record(actor)
        progress(f"{self.name}: {node_id} removed; its process may be stopped")
        return await self.table()

    async def _on_leader(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the leader, following its hint once leadership moved."""
        address = await self.leader()
        for attempt in range(8):
            try:
                return await _post(self.admin, address, path, body)
            except UpgradeInProgress:
                # A leader just elected learns its members' levels within a heartbeat.
                if attempt == 7:
                    raise
                await asyncio.sleep(1.0)
            except NotLeader as error:
                if error.leader_hint is None:
                    await asyncio.sleep(1.0)
                    address = await self.leader()
                else:
                    address = error.leader_hint
        raise PeerError(f"the leader of {self.name!r} kept moving; nothing may have changed")

    async def _caught_up(self, member: ClusterMember) -> None:
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        target = int((await self._leader_status())["commit_index"] or 0)
        last_said = -1
        while time.monotonic() < deadline:
            status = await _status_or_none(self.admin, member.api_address)
            applied = 0 if status is None else int(status["last_applied"] or 0)
            if status is not None and status["caught_up"] and applied >= target:
                return
            if applied != last_said:
                progress(f"{self.name}: {member.node_id} applied {applied} of {target}")
                last_said = applied
            await asyncio.sleep(_POLL_S)
        raise PeerError(
            f"{member.node_id} did not catch up within {CATCH_UP_TIMEOUT_S:.0f} s; it is a "
            "member: see `raftq admin members list`"
        )

    async def _record(self, actor: str) -> None:
        """The metadata group's record of a backend cluster's members, from its leader."""
        if self.name == METADATA_GROUP:
            return
        rows = (await self._leader_status())["members"]
        members = tuple(_member_of(row) for row in rows)
        await self.admin.command(
            SetClusterMembers(now_ms=0, actor=actor, cluster_id=self.name, members=members)
        )


async def _step_down(admin: Admin, address: str) -> dict[str, Any]:
    answer = await _post(admin, address, "/v1/raft/step-down", {})
    if answer["was_leader"] and answer["moved"]:
        progress(f"{address} handed leadership to {answer['leader'] or 'another member'}")
    elif not answer["was_leader"]:
        progress(f"{address} does not lead: nothing to hand over")
    else:
        raise PeerError(f"{address} still leads: no member took over in time")
    return {"node": address, **answer}


def _member_of(row: dict[str, Any]) -> ClusterMember:
    return ClusterMember(
        node_id=row["node_id"],
        zone=row["zone"],
        raft_address=row["raft_address"],
        api_address=row["api_address"],
    )


async def _answering(admin: Admin, member: ClusterMember) -> None:
    """Wait a little for the new node, which may be starting; refuse if it never answers."""
    deadline = time.monotonic() + START_WAIT_S
    while await _status_or_none(admin, member.api_address) is None:
        if time.monotonic() > deadline:
            raise PeerError(
                f"{member.node_id} does not answer at {member.api_address}: start it first "
                "(at a new address with --join), then add it; nothing changed"
            )
        await asyncio.sleep(_POLL_S)


def _role(status: dict[str, Any] | None) -> str:
    if status is None:
        return "unreachable"
    if status.get("removed"):
        return "removed"
    if not status.get("caught_up"):
        return "catching up"
    return "leader" if status["is_leader"] else "follower"


def _signed(admin: Admin, method: str, path: str, body: bytes) -> dict[str, str]:
    if admin.credential is None:
        return {}
    now_ms = time.time_ns() // 1_000_000
    return {HEADER: sign(admin.credential.secret, method, path, now_ms, body, caller=OPERATOR)}


async def _status_or_none(admin: Admin, address: str) -> dict[str, Any] | None:
    try:
        async with admin.session.get(
            admin.client.url(address, "/v1/status"),
            headers=_signed(admin, "GET", "/v1/status", b""),
            timeout=aiohttp.ClientTimeout(total=3),
            ssl=admin.client.ssl_argument,
        ) as response:
            if response.status != 200:
                return None
            status: dict[str, Any] = await response.json()
            return status
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def _post(admin: Admin, address: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    async with admin.session.post(
        admin.client.url(address, path),
        data=body,
        headers={**_signed(admin, "POST", path, body), "Content-Type": "application/json"},
        timeout=aiohttp.ClientTimeout(total=30),
        ssl=admin.client.ssl_argument,
    ) as response:
        raw = await response.read()
        if response.status == 200:
            answer: dict[str, Any] = json.loads(raw)
            return answer
    try:
        error = codec.decode(raw, NodeError)
    except Exception:
        raise PeerError(f"{address} answered {response.status} to {path}") from None
    if response.status == 421:
        raise NotLeader(error.message, leader_hint=error.leader)
    if error.code == UpgradeInProgress.code:
        raise UpgradeInProgress(error.message)
    if response.status in (400, 404, 409):
        kind = ConflictingState if error.code == ConflictingState.code else ClientError
        raise kind(error.message, field=error.field)
    raise PeerError(f"{address}: {error.message}")

"""One credential per plane, with real processes: a metadata group, a backend cluster
registered with it, two frontends each with its own credential, and `raftq admin` with the
operator secret (DESIGN.md §1 promise 7; issue 17 items 9 and 13).

- a frontend's credential opens the routes a frontend needs and no operator's or node's route,
  on metadata and backends alike (403, naming what is refused and nothing internal);
- the operator's opens the admin routes and no node's route;
- a revoked frontend is refused by the metadata group at once, and by backends (new and open
  channel connections) within FRONTEND_CREDENTIAL_CACHE_S, while the other frontend goes on;
- hostile headers are refused (401) and change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from raftq.client.sdk import AsyncClient
from raftq.common import cluster_auth, codec, limits
from raftq.common.channel.client import ChannelPool, NotSent
from raftq.common.credentials import OPERATOR, Credential, frontend_credential
from raftq.common.metadata_api import METADATA_COMMANDS_PATH, MetadataRequest
from raftq.common.metadata_commands import CreatePrincipal, ReportLoad
from raftq.common.node_api import COMMANDS_PATH, EXPORT_PATH, NodeError
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    eventually,
    metadata_and_backend,
    start_frontend_process,
)

pytestmark = pytest.mark.integration

OPERATOR_CREDENTIAL = Credential(OPERATOR, OPERATOR_SECRET.encode())


def admin(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--json", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Deployment:
    metadata: Cluster
    backend: Cluster
    env: dict[str, str]
    key: dict[str, str]
    credentials: dict[str, str]  # frontend name -> ID:SECRET
    endpoints: dict[str, str]
    session: aiohttp.ClientSession

    async def call(
        self, address: str, method: str, path: str, body: bytes, credential: Credential | None
    ) -> tuple[int, NodeError | None]:
        """A request to one node signed with `credential` (or with a raw header)."""
        headers = {"Content-Type": "application/x-msgpack"}
        if credential is not None:
            now_ms = time.time_ns() // 1_000_000
            headers[cluster_auth.HEADER] = cluster_auth.sign(
                credential.secret, method, path, now_ms, body, caller=credential.caller
            )
        return await self.raw(address, method, path, body, headers)

    async def raw(
        self, address: str, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, NodeError | None]:
        async with self.session.request(
            method, f"http://{address}{path}", data=body, headers=headers
        ) as answer:
            raw = await answer.read()
            if answer.status == 200 or answer.content_type != "application/x-msgpack":
                return answer.status, None
            return answer.status, codec.decode(raw, NodeError)

    def frontend(self, name: str) -> Credential:
        return frontend_credential(self.credentials[name])

    async def metadata_leader(self) -> str:
        return self.metadata.nodes[await self.metadata.leader()].api_address


@pytest.fixture
async def deployment(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, session: aiohttp.ClientSession
) -> AsyncIterator[Deployment]:
    metadata, backend = await metadata_and_backend(cluster_factory, tmp_path)
    addresses = [node.api_address for node in metadata.nodes]
    # An operator, with the operator secret only, sets up a user and two frontends
    env = {
        "PATH": "/usr/bin:/bin",
        "RAFTQ_METADATA": ",".join(addresses),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    admin(env, "principals", "create", "app")
    admin(env, "grants", "add", "app", "orders", "send", "receive", "delete", "admin")
    key = admin(env, "keys", "create", "app")
    admin(env, "queues", "create", "orders")
    credentials = {
        name: admin(env, "frontends", "create", name)["credential"] for name in ("fe-a", "fe-b")
    }
    processes, endpoints = [], {}
    for name, credential in credentials.items():
        process, endpoints[name] = start_frontend_process(tmp_path, name, credential, addresses)
        processes.append(process)
    try:
        yield Deployment(metadata, backend, env, key, credentials, endpoints, session)
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


async def _sends(endpoint: str, key: dict[str, str], body: str) -> bool:
    """True if a send and a receive through this frontend work."""
    try:
        async with AsyncClient(endpoint, key["key_id"], key["secret"], retries=0) as client:
            await client.send("orders", body)
            return True
    except Exception:
        return False


async def _works(endpoint: str, key: dict[str, str], body: str, timeout_s: float = 30) -> None:
    async def probe() -> bool | None:
        return True if await _sends(endpoint, key, body) else None

    await eventually(probe, timeout_s=timeout_s, what=f"a send through {endpoint}")


async def test_a_frontend_credential_opens_only_what_a_frontend_needs(
    deployment: Deployment,
) -> None:
    d = deployment
    # Given two frontends serving users with their own credentials
    for endpoint in d.endpoints.values():
        await _works(endpoint, d.key, "hello")
    fe_a = d.frontend("fe-a")
    leader = await d.metadata_leader()
    backend = d.backend.nodes[await d.backend.leader()].api_address
    # Then its credential reads the catalogue, as a frontend does
    assert (await d.call(leader, "GET", "/v1/catalogue", b"", fe_a))[0] == 200
    # And a backend node's Raft status, which its dashboard shows
    assert (await d.call(backend, "GET", "/v1/status", b"", fe_a))[0] == 200
    # But is refused (403) on every operator's and node's route, naming what it may not call
    create = codec.encode(
        MetadataRequest(command=CreatePrincipal(now_ms=0, actor="x", principal_id="evil"))
    )
    report = codec.encode(
        MetadataRequest(
            command=ReportLoad(
                now_ms=0, actor="x", cluster_id="c1", node_id="n1", messages=0, queues=0
            )
        )
    )
    refused = [
        (leader, "POST", METADATA_COMMANDS_PATH, create),
        (leader, "POST", METADATA_COMMANDS_PATH, report),
        (leader, "POST", "/v1/keys/create", b""),
        (leader, "POST", "/v1/queues/move", b""),
        (leader, "POST", "/v1/frontends/create", b""),
        (leader, "POST", "/v1/frontends/lookup", b""),
        (leader, "GET", "/v1/audit", b""),
        (backend, "POST", COMMANDS_PATH, b""),
        (backend, "POST", EXPORT_PATH, b""),
        # Backups and restores are the operators' (docs/backup.md)
        (leader, "POST", "/v1/restore/begin", b""),
        (leader, "POST", "/v1/restore/finish", b""),
        (backend, "POST", "/v1/backup/open", b""),
        (backend, "POST", "/v1/backup/chunk", b""),
        (backend, "POST", "/v1/backup/close", b""),
        (backend, "POST", "/v1/restore/records", b""),
    ]
    for address, method, path, body in refused:
        status, error = await d.call(address, method, path, body, fe_a)
        assert status == 403, (path, status)
        assert error is not None and error.code == "CredentialNotAllowed", path
        assert error.message.startswith("a frontend credential may not call"), error.message
        assert str(fe_a.caller.frontend_id) not in error.message  # nothing internal is echoed
    # And the operator's credential is refused on the nodes' routes, too
    for address, method, path, body in [
        (leader, "POST", METADATA_COMMANDS_PATH, report),
        (leader, "POST", "/v1/frontends/lookup", b""),
        (backend, "POST", COMMANDS_PATH, b""),
        (backend, "POST", EXPORT_PATH, b""),
    ]:
        status, error = await d.call(address, method, path, body, OPERATOR_CREDENTIAL)
        assert status == 403 and error is not None, (path, status)
        assert error.message.startswith("an operator credential may not call"), error.message
    # And nothing changed: no principal "evil", the catalogue as the operator made it
    catalogue = await d.metadata.get_json(0, "/v1/catalogue")
    assert catalogue is not None and catalogue["principals"] == ["app"]


async def test_a_revoked_frontend_is_refused_and_the_other_goes_on(
    deployment: Deployment,
) -> None:
    d = deployment
    # Given two working frontends, the first with an open channel connection to the backends
    for endpoint in d.endpoints.values():
        await _works(endpoint, d.key, "before")
    fe_a, fe_b = d.frontend("fe-a"), d.frontend("fe-b")
    leader = await d.metadata_leader()
    backend = d.backend.nodes[await d.backend.leader()].api_address
    pool = ChannelPool(fe_a, max_frame_bytes=1 << 20)
    try:
        await pool.request(backend, b"not a command", 5.0)  # a connection opens; answer: error
        # When an operator revokes the first one
        revoked = admin(d.env, "frontends", "revoke", "fe-a")
        revoked_at = time.monotonic()
        assert revoked == {"name": "fe-a", "revoked": True}
        # Then the metadata leader refuses it at once, and still serves the other
        status, error = await d.call(leader, "GET", "/v1/catalogue", b"", fe_a)
        assert status == 401 and error is not None
        assert error.message == "the frontend credential is unknown or revoked"
        assert (await d.call(leader, "GET", "/v1/catalogue", b"", fe_b))[0] == 200

        # And the backends close its open connection and refuse new ones within the bound
        async def cut_off() -> bool | None:
            try:
                await pool.request(backend, b"not a command", 2.0)
            except (NotSent, Exception):
                with pytest.raises(NotSent):
                    await pool.request(backend, b"not a command", 2.0)
                return True
            return None

        await eventually(cut_off, timeout_s=3 * limits.FRONTEND_CREDENTIAL_CACHE_S, what="cut")
        assert time.monotonic() - revoked_at < 2 * limits.FRONTEND_CREDENTIAL_CACHE_S + 2
    finally:
        await pool.close()
    # And users of the revoked frontend are refused, users of the other are served
    assert not await _sends(d.endpoints["fe-a"], d.key, "after")
    await _works(d.endpoints["fe-b"], d.key, "after", timeout_s=10)
    listed = {f["name"]: f for f in admin(d.env, "frontends", "list")}
    assert listed["fe-a"]["revoked_at_ms"] is not None and listed["fe-b"]["revoked_at_ms"] is None
    assert all("secret" not in json.dumps(f) for f in listed.values())


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "c=frontend.RF" + "A" * 18 + ",t=1,n=" + "0" * 32 + ",s=" + "0" * 64,  # unknown frontend
        "c=root,t=1,n=" + "0" * 32 + ",s=" + "0" * 64,  # no such plane
        "c=node,t=1,n=" + "0" * 32 + ",s=" + "0" * 64,  # a node's, forged
        "c=operator,t=99999999999999999,n=" + "0" * 32 + ",s=" + "0" * 64,
        "c=frontend." + "A" * 10_000,
    ],
    ids=["empty", "garbage", "unknown-frontend", "unknown-plane", "forged-node", "future",
         "huge"],
)  # fmt: skip
async def test_hostile_credential_headers_are_refused_and_change_nothing(
    deployment: Deployment, header: str
) -> None:
    d = deployment
    leader = await d.metadata_leader()
    before = await d.metadata.get_json(0, "/v1/audit")
    create = codec.encode(
        MetadataRequest(command=CreatePrincipal(now_ms=0, actor="x", principal_id="evil"))
    )
    headers = {"Content-Type": "application/x-msgpack", cluster_auth.HEADER: header}
    status, error = await d.raw(leader, "POST", METADATA_COMMANDS_PATH, create, headers)
    assert status in (400, 401), status  # 400: aiohttp refuses an over-long header line
    if error is not None:
        assert error.code == "Unauthenticated" and "A" * 100 not in error.message
    after = await d.metadata.get_json(0, "/v1/audit")
    assert before is not None and after is not None and before["audit"] == after["audit"]

"""A three-node backend cluster of real `raftq backend` processes on loopback, for tests.

Every process is started by the harness and killed by `close()` (the fixture calls it in all
cases). Faults: `kill` (SIGKILL), `pause`/`resume` (SIGSTOP/SIGCONT), `cut_power` (after a kill:
the Raft log is cut back to its last fsync and the RocksDB state, never fsynced, is dropped).
Waits poll a condition with a deadline; none sleeps for a fixed time to reach a state.
With `tls` (a certificate, its key and the CA), the nodes serve their API port with TLS and the
harness's own requests verify them against the CA.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from raftq.common import codec
from raftq.common.backend_client import BackendClient
from raftq.common.cluster_auth import HEADER, sign
from raftq.common.internal_tls import InternalTls
from raftq.common.metadata_api import MetadataClient
from raftq.common.metadata_models import ClusterMember
from raftq.common.node_api import NodeError
from raftq.raft.journal import LOG_NAME, SYNCED_NAME

SECRET = "integration-test-cluster-secret"
# Held by the members only (Raft traffic), as SECRET is (nodes' internal HTTP); operators hold
# OPERATOR_SECRET; frontends each hold a credential the metadata group issues them.
RAFT_SECRET = "integration-test-raft-secret"
OPERATOR_SECRET = "integration-test-operator-secret"
T = TypeVar("T")


def three_zone_members(raft_port: int, api_port: int) -> tuple[ClusterMember, ...]:
    """Members b0, b1, b2 in zones a, b, c, at consecutive ports from the two given: what a
    metadata group records for a backend cluster that no test needs to reach."""
    return tuple(
        ClusterMember(
            node_id=f"b{i}",
            zone=zone,
            raft_address=f"127.0.0.1:{raft_port + i}",
            api_address=f"127.0.0.1:{api_port + i}",
        )
        for i, zone in enumerate("abc")
    )


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now, below the ephemeral range (up_process.LISTEN_PORTS: a
    port the kernel hands out as ephemeral may be taken as a connection's source port before
    the node that is to listen on it binds)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20_000, 32_000)
        if port in ports or port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    _HANDED_OUT.update(ports)
    return ports


# Every port `free_ports` gave in this test process: two clusters of one test never share one.
_HANDED_OUT: set[int] = set()


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, every_s: float = 0.05
) -> T:
    """Poll `probe` until it returns something other than None, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = await probe()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            last_error, value = error, None
        if value is not None:
            return value
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} ({last_error!r})")


@dataclass
class NodeProcess:
    node_id: str
    zone: str
    raft_address: str
    api_address: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def member(self) -> str:
        return f"{self.node_id},{self.zone},{self.raft_address},{self.api_address}"


@dataclass
class Cluster:
    root: Path
    session: aiohttp.ClientSession
    extra_args: tuple[str, ...] = ()
    with_secret: bool = True
    kind: str = "backend"  # or "metadata"
    tls: InternalTls = field(default_factory=InternalTls)
    nodes: list[NodeProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client_tls = self.tls.client_context()
        self.ssl_argument = True if self.client_tls is None else self.client_tls
        ports = free_ports(6)
        for i, zone in enumerate("abc"):
            node_dir = self.root / f"n{i + 1}"
            self.nodes.append(
                NodeProcess(
                    node_id=f"n{i + 1}",
                    zone=zone,
                    raft_address=f"127.0.0.1:{ports[i]}",
                    api_address=f"127.0.0.1:{ports[3 + i]}",
                    data_dir=node_dir,
                    log_path=self.root / f"n{i + 1}.log",
                )
            )
        (self.root / "secret").write_text(SECRET)
        (self.root / "raft.secret").write_text(RAFT_SECRET)
        (self.root / "operator.secret").write_text(OPERATOR_SECRET)
        self.client = self.new_client()

    def new_client(self, timeout_s: float = 10.0) -> BackendClient:
        return self.client_for(range(len(self.nodes)), timeout_s=timeout_s)

    def metadata_client(self, timeout_s: float = 10.0) -> MetadataClient:
        members = [node.api_address for node in self.nodes]
        return MetadataClient(
            members, SECRET, self.session, tls=self.client_tls, timeout_s=timeout_s
        )

    async def get_json(self, i: int, path: str) -> dict[str, Any] | None:
        """A signed GET of `path` on node `i`; None unless it answers 200."""
        status, payload = await self.get_answer(i, path)
        return payload if status == 200 else None

    async def get_answer(self, i: int, path: str) -> tuple[int, dict[str, Any] | None]:
        """A signed GET of `path` on node `i`: its status, and its JSON body if it sent one."""
        node = self.nodes[i]
        now_ms = time.time_ns() // 1_000_000
        headers = {HEADER: sign(SECRET.encode(), "GET", path, now_ms, b"")}
        async with self.session.get(
            f"{self.tls.scheme}://{node.api_address}{path}",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=2),
            ssl=self.ssl_argument,
        ) as response:
            if response.content_type != "application/json":
                return response.status, None
            payload: dict[str, Any] = await response.json()
            return response.status, payload

    async def post_json(self, i: int, path: str, payload: Any) -> tuple[int, dict[str, Any]]:
        """A signed JSON POST (or raw bytes) to node `i`: its status, and its JSON answer or
        the node's error (code, message, field, leader)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        now_ms = time.time_ns() // 1_000_000
        headers = {HEADER: sign(SECRET.encode(), "POST", path, now_ms, body)}
        async with self.session.post(
            f"{self.tls.scheme}://{self.nodes[i].api_address}{path}",
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
            ssl=self.ssl_argument,
        ) as response:
            raw = await response.read()
            if response.content_type == "application/json":
                answer: dict[str, Any] = json.loads(raw)
                return response.status, answer
            return response.status, codec.decode(raw, NodeError).model_dump()

    def client_for(
        self, indexes: Iterable[int], timeout_s: float = 10.0, *, follow_leader: bool = True
    ) -> BackendClient:
        """A client that knows only these nodes; without `follow_leader` it asks each once."""
        members = [self.nodes[i].api_address for i in indexes]
        return BackendClient(
            members,
            SECRET,
            self.session,
            tls=self.client_tls,
            timeout_s=timeout_s,
            max_hops=6 if follow_leader else len(members),
        )

    # --- processes --------------------------------------------------------------------------

    def add_node(self, zone: str) -> int:
        """A new node (not started) at fresh ports; every node started from now on names it
        among its members. Returns its index."""
        raft_port, api_port = free_ports(2)
        i = len(self.nodes)
        self.nodes.append(
            NodeProcess(
                node_id=f"n{i + 1}",
                zone=zone,
                raft_address=f"127.0.0.1:{raft_port}",
                api_address=f"127.0.0.1:{api_port}",
                data_dir=self.root / f"n{i + 1}",
                log_path=self.root / f"n{i + 1}.log",
            )
        )
        return i

    def start(self, i: int, *extra: str) -> None:
        node = self.nodes[i]
        assert node.process is None or node.process.poll() is not None, f"{node.node_id} runs"
        command = [
            sys.executable,
            "-m",
            "raftq.client.cli",
            self.kind,
            "--node-id",
            node.node_id,
            "--data-dir",
            str(node.data_dir),
            "--log-level",
            "WARNING",
            *self.extra_args,
            *extra,
        ]
        if self.with_secret:
            command += ["--secret-file", str(self.root / "secret")]
            command += ["--raft-secret-file", str(self.root / "raft.secret")]
            command += ["--operator-secret-file", str(self.root / "operator.secret")]
        if self.tls.cert_file is not None and self.tls.key_file is not None:
            command += ["--tls-cert-file", str(self.tls.cert_file)]
            command += ["--tls-key-file", str(self.tls.key_file)]
        if self.tls.ca_file is not None:
            command += ["--tls-ca-file", str(self.tls.ca_file)]
        for other in self.nodes:
            command += ["--member", other.member]
        log = node.log_path.open("ab")
        node.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start_all(self) -> None:
        for i in range(len(self.nodes)):
            self.start(i)

    def kill(self, i: int) -> None:
        process = self.nodes[i].process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused process dies only once resumed
            process.kill()
            process.wait(timeout=10)

    def pause(self, i: int) -> None:
        process = self.nodes[i].process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        process = self.nodes[i].process
        assert process is not None
        os.kill(process.pid, signal.SIGCONT)

    def cut_power(self, i: int) -> None:
        """After `kill(i)`: keep of the node's disk only what it fsynced."""
        raft_dir = self.nodes[i].data_dir / "raft"
        synced = int((raft_dir / SYNCED_NAME).read_text())
        with (raft_dir / LOG_NAME).open("r+b") as log:
            log.truncate(synced)
        # The state machine's RocksDB is never fsynced by a replica: drop all of it.
        shutil.rmtree(self.nodes[i].data_dir / "state", ignore_errors=True)

    def close(self) -> None:
        for i in range(len(self.nodes)):
            self.kill(i)

    # --- observation ------------------------------------------------------------------------

    async def status(self, i: int) -> dict[str, Any] | None:
        node = self.nodes[i]
        if node.process is None or node.process.poll() is not None:
            return None
        now_ms = time.time_ns() // 1_000_000
        headers = {HEADER: sign(SECRET.encode(), "GET", "/v1/status", now_ms, b"")}
        timeout = aiohttp.ClientTimeout(total=1)
        async with self.session.get(
            f"{self.tls.scheme}://{node.api_address}/v1/status",
            headers=headers,
            timeout=timeout,
            ssl=self.ssl_argument,
        ) as response:
            if response.status != 200:
                return None
            payload: dict[str, Any] = await response.json()
            return payload

    async def leader(self, timeout_s: float = 10.0, among: list[int] | None = None) -> int:
        indexes = among if among is not None else list(range(len(self.nodes)))

        async def probe() -> int | None:
            for i in indexes:
                status = await self._status_or_none(i)
                if status is not None and status["is_leader"]:
                    return i
            return None

        return await eventually(probe, timeout_s, "a leader")

    async def converged(self, timeout_s: float = 20.0, among: Iterable[int] | None = None) -> str:
        """Wait until every node (or those `among`) applied the same entries; return their
        digest."""
        indexes = list(range(len(self.nodes)) if among is None else among)

        async def probe() -> str | None:
            statuses = [await self._status_or_none(i) for i in indexes]
            if any(s is None for s in statuses):
                return None
            digests = {s["digest"] for s in statuses if s is not None}
            applied = {s["machine_applied_index"] for s in statuses if s is not None}
            if len(digests) == 1 and len(applied) == 1:
                digest: str = digests.pop()
                return digest
            return None

        return await eventually(probe, timeout_s, "all replicas to converge", every_s=0.1)

    async def _status_or_none(self, i: int) -> dict[str, Any] | None:
        try:
            return await self.status(i)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None


async def metadata_and_backend(
    cluster_factory: Callable[..., Cluster], root: Path, *, tls: InternalTls | None = None
) -> tuple[Cluster, Cluster]:
    """A metadata group (master key "11"*32) and backend cluster c1 registered with it, both
    started, each with a leader, and c1's three members reporting."""
    master_key = root / "master.key"
    master_key.write_text("11" * 32)
    metadata = cluster_factory(
        "--master-key-file", str(master_key), name="metadata", kind="metadata", tls=tls
    )
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    backend = cluster_factory("--cluster-id", "c1", *registering, name="c1", tls=tls)
    for cluster in (metadata, backend):
        cluster.start_all()
    for cluster in (metadata, backend):
        await cluster.leader(timeout_s=30)

    async def reporting() -> bool | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        found = catalogue["clusters"] if catalogue else []
        return True if len(found) == 1 and len(found[0]["reports"]) == 3 else None

    await eventually(reporting, timeout_s=60, what="cluster c1 to report")
    return metadata, backend


def start_frontend_process(
    root: Path, name: str, credential: str, metadata: Iterable[str], *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A frontend process with its own credential (`ID:SECRET`), on a free port; its log is
    root/NAME.log. Returns the process and its endpoint."""
    (root / f"{name}.credential").write_text(credential)
    (root / "frontend.key").write_text("22" * 32)
    port = free_ports(1)[0]
    log = (root / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "raftq.client.cli", "frontend", "--listen", f"127.0.0.1:{port}",
         *(arg for address in metadata for arg in ("--metadata", address)),
         "--credential-file", str(root / f"{name}.credential"),
         "--master-key", f"k1={root / 'frontend.key'}", "--log-level", "WARNING", *extra],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    return process, f"http://127.0.0.1:{port}"

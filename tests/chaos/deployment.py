"""The compose deployment as the chaos harness sees it (deploy/compose, docs/deploy.md).

Everything goes through `deploy/compose/raftq-compose` (which picks `docker compose` or
`docker-compose`) and the `docker` CLI: containers by service name, groups and zones by the
compose labels, and the faults themselves (kill, start, restart, pause, unpause, iptables as
root inside a container). A node's Raft status comes straight from its `/v1/status` (signed with
the cluster secret, over TLS verified against the deployment's CA and the service's name, 1.5 s
to answer), so finding a leader does not wait on members that are down. Calls block; the async
runner calls them in a thread.
"""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftq.common import cluster_auth, internal_tls
from raftq.raft.journal import LOG_NAME, SYNCED_NAME

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
API_PORT = 8000  # metadata and backend nodes
NODE_ROLES = ("metadata", "backend", "frontend")
# RAFTQ_FAULT_CLOCK_OFFSET_FILE in docker-compose.yml
CLOCK_OFFSET_FILE = "/tmp/raftq-clock-offset-ms"
NODE_VOLUME = "/var/lib/raftq"  # each node's volume in docker-compose.yml
NODE_DATA_DIR = f"{NODE_VOLUME}/data"  # --data-dir of every node
BALLAST = "chaos-ballast"  # the file `fill_disk` fills a volume with, beside the data directory


# What `cut_power` runs inside the node's volumes: the witness file is written after each fsync
# only when the node runs with RAFTQ_FAULT_WITNESS_SYNCS=1; without it this fails (loudly). It
# can run twice on one stopped node (a strike retried after a later node's cut failed): the log
# is cut to the same length again, and a store already dropped stays dropped.
_CUT_POWER = f"""
import os, shutil
raft = "{NODE_DATA_DIR}/raft"
with open(raft + "/{SYNCED_NAME}") as witness:
    synced = int(witness.read())
with open(raft + "/{LOG_NAME}", "r+b") as log:
    written = log.seek(0, 2)
    log.truncate(synced)
state = "{NODE_DATA_DIR}/state"
dropped = "dropped the state store" if os.path.exists(state) else "no state store left to drop"
shutil.rmtree(state, ignore_errors=True)
print(f"kept {{synced}} of {{written}} bytes of the log; {{dropped}}")
"""


# What `empty_disk` runs beside a stopped node: its machine is gone, a new one has an empty disk.
_EMPTY_DISK = f"""
import os, shutil
for name in os.listdir("{NODE_DATA_DIR}") if os.path.isdir("{NODE_DATA_DIR}") else []:
    path = os.path.join("{NODE_DATA_DIR}", name)
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
print("emptied")
"""


# What `fill_disk` runs beside a node, on its volume: a ballast file takes every free block (the
# deployment's small disks, RAFTQ_FAULT_SMALL_DISKS_MB, make that a few GiB at most); allocated,
# not written, where the filesystem can, then written to the last byte.
_FILL_DISK = f"""
import errno, os
def free():
    stats = os.statvfs("{NODE_VOLUME}")
    return stats.f_bavail * stats.f_frsize
fd = os.open("{NODE_VOLUME}/{BALLAST}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
before, size = free(), free()
while size >= 4096:
    try:
        os.posix_fallocate(fd, os.fstat(fd).st_size, size)
        size = free()
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        size //= 2
chunk = 65536
while chunk:
    try:
        os.write(fd, bytes(chunk))
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        chunk //= 2
os.close(fd)
print(f"filled {{before}} bytes; {{free()}} left")
"""

_FREE_DISK = f"""
import contextlib, os
with contextlib.suppress(FileNotFoundError):
    os.unlink("{NODE_VOLUME}/{BALLAST}")
"""


class DeploymentError(Exception):
    """Raised when a docker or compose command fails."""


class _NodeConnection(http.client.HTTPSConnection):
    """HTTPS to a node's address on the `raftq` network, verifying the certificate against the
    service's name (what the nodes dial it by, and what its certificate names): the host
    resolves neither."""

    def __init__(
        self, service: str, address: str, context: ssl.SSLContext, timeout_s: float
    ) -> None:
        super().__init__(service, API_PORT, timeout=timeout_s, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        plain = socket.create_connection((self._address, API_PORT), self.timeout)
        self.sock = self._tls.wrap_socket(plain, server_hostname=self.host)


@dataclass(frozen=True)
class RaftMember:
    group: str
    node: str
    role: str
    term: int | None


class Deployment:
    def __init__(self, compose_dir: Path = COMPOSE_DIR) -> None:
        self.compose_dir = compose_dir
        self._script = compose_dir / "raftq-compose"
        self._containers: dict[str, str] = {}
        self._addresses: dict[str, str] = {}
        self._labelled: dict[str, list[str]] = {}
        self._tls: ssl.SSLContext | None = None

    def client_env(self) -> dict[str, str]:
        """The variables of state/client.env (written by the `init` service)."""
        values = {}
        for line in (self.compose_dir / "state" / "client.env").read_text().splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                values[name] = value
        return values

    def admin_json(self, *args: str) -> Any:
        return json.loads(self._run(str(self._script), "admin", "--json", *args))

    def raft_members(self) -> list[RaftMember]:
        rows = self.admin_json("raft", "status")
        return [
            RaftMember(str(r["group"]), str(r["node"]), str(r.get("role")), r.get("term"))
            for r in rows
        ]

    def node_status(self, service: str, timeout_s: float = 1.5) -> dict[str, Any] | None:
        """A metadata or backend node's `/v1/status`; None when it does not answer in time."""
        path = "/v1/status"
        secret = (self.compose_dir / "secrets" / "cluster_secret").read_bytes().strip()
        signature = cluster_auth.sign(secret, "GET", path, time.time_ns() // 1_000_000, b"")
        if self._tls is None:
            self._tls = internal_tls.client_context(self.compose_dir / "secrets" / "tls_ca.crt")
        connection = _NodeConnection(service, self.address(service), self._tls, timeout_s)
        try:
            connection.request("GET", path, headers={cluster_auth.HEADER: signature})
            response = connection.getresponse()
            if response.status != 200:
                return None
            status: dict[str, Any] = json.loads(response.read())
            return status
        except (OSError, http.client.HTTPException, ValueError):  # ssl.SSLError: an OSError
            return None
        finally:
            connection.close()

    def leader(self, group: str) -> str | None:
        """The member that says it leads the group in the highest term; None if none does."""
        leaders = []
        for service in self.members(group):
            status = self.node_status(service)
            if status is not None and status.get("is_leader"):
                leaders.append((int(status.get("term") or 0), service))
        return max(leaders)[1] if leaders else None

    def members(self, group: str) -> list[str]:
        """The services of a Raft group (`metadata`, `c1`, `c2`), by the compose labels."""
        return self._services(f"label=org.raftq.group={group}")

    def nodes(self) -> list[str]:
        """Every metadata, backend and frontend service (the load balancer and init are not
        faulted: the harness reaches the deployment through the load balancer)."""
        return sorted(
            service
            for role in NODE_ROLES
            for service in self._services(f"label=org.raftq.role={role}")
        )

    def zones(self) -> dict[str, list[str]]:
        """Zone -> the node services in it."""
        zones: dict[str, list[str]] = {}
        for zone in ("a", "b", "c"):
            zones[zone] = self._services(f"label=org.raftq.zone={zone}")
        return zones

    def _services(self, label_filter: str) -> list[str]:
        if label_filter in self._labelled:
            return self._labelled[label_filter]
        out = self._run(
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={self._project()}",
            "--filter",
            label_filter,
            "--format",
            '{{.Label "com.docker.compose.service"}}',
        )
        self._labelled[label_filter] = sorted(out.split())
        return self._labelled[label_filter]

    def container(self, service: str) -> str:
        if service not in self._containers:
            found = self._run(str(self._script), "compose", "ps", "-q", service).strip()
            if not found:
                raise DeploymentError(f"no container for service {service}")
            self._containers[service] = found
        return self._containers[service]

    def address(self, service: str) -> str:
        """The service's address on the `raftq` network (fixed in docker-compose.yml)."""
        if service not in self._addresses:
            self._addresses[service] = self._inspect_address(service)
        return self._addresses[service]

    def _inspect_address(self, service: str) -> str:
        networks = json.loads(
            self._run(
                "docker",
                "inspect",
                "-f",
                "{{json .NetworkSettings.Networks}}",
                self.container(service),
            )
        )
        return str(next(iter(networks.values()))["IPAddress"])

    def kill(self, service: str) -> None:
        self._run("docker", "kill", "--signal", "KILL", self.container(service))

    def start(self, service: str) -> None:
        self._run("docker", "start", self.container(service))

    def restart(self, service: str, grace_s: int = 10) -> None:
        """A graceful restart: SIGTERM, up to `grace_s` to stop, then start."""
        self._run("docker", "restart", "-t", str(grace_s), self.container(service))

    def cut_power(self, service: str) -> str:
        """After `kill(service)`: keep of its disk only what it fsynced. The Raft log is cut to
        the length its journal last witnessed as synced, and the state store, which a replica
        never fsyncs (it is rebuilt from the snapshot and the log), is dropped. Runs in a
        throwaway container of the same image with the stopped container's volumes. Returns
        what it kept and dropped."""
        return self._beside(service, _CUT_POWER)

    def has_small_disks(self) -> bool:
        """Whether the backend volumes are filesystems of their own (raftq-compose's small
        disks), so that `fill_disk` fills one node's disk and not the host's."""
        return (self.compose_dir / "state" / "small-disks.yml").exists()

    def fill_disk(self, service: str) -> str:
        """Fill the service's volume with a ballast file, whatever state its container is in
        (needs the deployment's small disks: never the host's). Returns how much it took."""
        if not self.has_small_disks():
            raise DeploymentError("no small disks: filling a volume would fill the host's disk")
        return self._beside(service, _FILL_DISK)

    def empty_disk(self, service: str) -> None:
        """After `kill(service)`: its data directory emptied, as a new machine's disk."""
        self._beside(service, _EMPTY_DISK)

    def replace_member(self, group: str, service: str) -> None:
        """`raftq admin members replace GROUP NODE` at the same addresses (the node's id is its
        service name); waits until the new member has caught up."""
        self._run(
            str(self._script), "admin", "--json", "members", "replace", group, service,
            timeout_s=300,
        )  # fmt: skip

    def free_disk(self, service: str) -> None:
        """Delete the ballast `fill_disk` left, if any."""
        self._beside(service, _FREE_DISK)

    def _beside(self, service: str, script: str) -> str:
        """Run a Python `script` as root in a throwaway container of the service's image, with
        its volumes and no network; its output."""
        container = self.container(service)
        image = self._run("docker", "inspect", "-f", "{{.Config.Image}}", container).strip()
        done = self._run(
            "docker", "run", "--rm", "-u", "0", "--network", "none",
            "--volumes-from", container, "--entrypoint", "python", image, "-c", script,
        )  # fmt: skip
        return done.strip()

    def pause(self, service: str) -> None:
        self._run("docker", "pause", self.container(service))

    def unpause(self, service: str) -> None:
        self._run("docker", "unpause", self.container(service))

    def state(self, service: str) -> str:
        return self._run(
            "docker", "inspect", "-f", "{{.State.Status}}", self.container(service)
        ).strip()

    def isolate(self, service: str, peers: list[str]) -> None:
        """Drop every packet between `service` and each of `peers`, inside `service` (the
        container has NET_ADMIN; iptables runs as root through `docker exec -u 0`)."""
        rules = []
        for peer in peers:
            address = self.address(peer)
            rules += [
                f"iptables -A INPUT -s {address} -j DROP",
                f"iptables -A OUTPUT -d {address} -j DROP",
            ]
        self.root_shell(service, " && ".join(rules))

    def heal_network(self, service: str) -> None:
        self.root_shell(service, "iptables -F INPUT && iptables -F OUTPUT")

    def set_clock_offset(self, service: str, offset_ms: int | None) -> None:
        """Move the node's wall clock by `offset_ms` (its OffsetClock reads the file within
        0.1 s); None removes the offset."""
        path = CLOCK_OFFSET_FILE
        script = f"rm -f {path}" if offset_ms is None else f"echo {int(offset_ms)} > {path}"
        self.root_shell(service, script)

    def frontends(self) -> list[str]:
        return self._services("label=org.raftq.role=frontend")

    def run_python(self, service: str, script: str, *args: str) -> tuple[int, str]:
        """Run a Python `script` (its text on standard input) inside the service's container, as
        the service's own user; its exit status and standard output."""
        done = subprocess.run(
            ["docker", "exec", "-i", self.container(service), "python", "-", *args],
            input=script,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def root_shell(self, service: str, script: str) -> str:
        return self._run("docker", "exec", "-u", "0", self.container(service), "sh", "-c", script)

    def _project(self) -> str:
        for line in (self.compose_dir / ".env").read_text().splitlines():
            if line.startswith("COMPOSE_PROJECT_NAME="):
                return line.partition("=")[2].strip()
        return self.compose_dir.name

    def _run(self, *argv: str, timeout_s: float = 60) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            command = " ".join(shlex.quote(a) for a in argv)
            raise DeploymentError(f"{command}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

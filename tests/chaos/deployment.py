"""The compose deployment as the chaos harness sees it (deploy/compose, docs/deploy.md).

Everything goes through `deploy/compose/raftq-compose` (which picks `docker compose` or
`docker-compose`) and the `docker` CLI: containers by service name, Raft roles from `raftq admin
raft status`, and the faults themselves (kill, start, pause, unpause, iptables as root inside a
container). Calls block; the async runner calls them in a thread.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"


class DeploymentError(Exception):
    """Raised when a docker or compose command fails."""


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

    def leader(self, group: str) -> str | None:
        leaders = [m.node for m in self.raft_members() if m.group == group and m.role == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def members(self, group: str) -> list[str]:
        """The services of a Raft group (`metadata`, `c1`, `c2`), by the compose labels."""
        out = self._run(
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={self._project()}",
            "--filter",
            f"label=org.raftq.group={group}",
            "--format",
            '{{.Label "com.docker.compose.service"}}',
        )
        return sorted(out.split())

    def container(self, service: str) -> str:
        if service not in self._containers:
            found = self._run(str(self._script), "compose", "ps", "-q", service).strip()
            if not found:
                raise DeploymentError(f"no container for service {service}")
            self._containers[service] = found
        return self._containers[service]

    def address(self, service: str) -> str:
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

    def root_shell(self, service: str, script: str) -> str:
        return self._run("docker", "exec", "-u", "0", self.container(service), "sh", "-c", script)

    def _project(self) -> str:
        for line in (self.compose_dir / ".env").read_text().splitlines():
            if line.startswith("COMPOSE_PROJECT_NAME="):
                return line.partition("=")[2].strip()
        return self.compose_dir.name

    def _run(self, *argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            command = " ".join(shlex.quote(a) for a in argv)
            raise DeploymentError(f"{command}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

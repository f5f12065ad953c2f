"""The compose deployment gives each secret only to the services of its plane: the raft secret to
the metadata and backend members (and reads it there), never to a frontend, init or the load
balancer; and `raftq-compose secrets` makes every secret file the compose file mounts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "deploy" / "compose"
RAFT_MEMBER_ROLES = {"metadata", "backend"}


def _services() -> dict[str, dict[str, Any]]:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _role(service: dict[str, Any]) -> str:
    return str(service["labels"]["org.raftq.role"])


@pytest.mark.parametrize("name", sorted(_services()))
def test_the_raft_secret_is_mounted_and_read_on_raft_members_only(name: str) -> None:
    service = _services()[name]
    mounted = service.get("secrets", [])
    command = str(service.get("command", ""))
    if _role(service) in RAFT_MEMBER_ROLES:
        assert "raft_secret" in mounted
        assert "--raft-secret-file /run/secrets/raft_secret" in command
        assert "cluster_secret" in mounted  # still signs the internal HTTP requests
    else:
        assert "raft_secret" not in mounted
        assert "--raft-secret-file" not in command and "raft_secret" not in command


def test_every_role_of_the_deployment_is_checked() -> None:
    roles = {_role(service) for service in _services().values()}
    assert roles == {"metadata", "backend", "frontend", "lb", "init"}


def test_raftq_compose_makes_every_secret_file_the_compose_file_mounts() -> None:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    files = {Path(spec["file"]).name for spec in compose["secrets"].values()}
    script = (COMPOSE_DIR / "raftq-compose").read_text()
    made = {
        name
        for loop in re.findall(r"^\s*for \w+ in ([\w ]+); do$", script, re.MULTILINE)
        for name in loop.split()
    }
    assert "raft_secret" in files
    assert files <= made

"""The compose deployment serves without the chaos suite's faults: NET_ADMIN, the fault clock and
the fsync witness are only in docker-compose.chaos.yml, which covers every Raft node and adds
nothing else (deploy/compose/raftq-compose adds it with RAFTQ_CHAOS=1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "deploy" / "compose"
FAULTS = ("RAFTQ_FAULT_CLOCK_OFFSET_FILE", "RAFTQ_FAULT_WITNESS_SYNCS")


def _services(file_name: str) -> dict[str, dict[str, Any]]:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / file_name).read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def test_the_deployment_grants_no_capability_and_sets_no_fault() -> None:
    for name, service in _services("docker-compose.yml").items():
        assert "NET_ADMIN" not in service.get("cap_add", []), name
        environment = service.get("environment") or {}
        assert not any(fault in environment for fault in FAULTS), name


def test_the_chaos_file_gives_every_raft_node_its_faults_and_nothing_else() -> None:
    deployment = _services("docker-compose.yml")
    raft_nodes = {
        name
        for name, service in deployment.items()
        if service["labels"]["org.raftq.role"] in {"metadata", "backend"}
    }
    chaos = _services("docker-compose.chaos.yml")
    assert set(chaos) == raft_nodes
    for name, service in chaos.items():
        assert set(service) == {"cap_add", "environment"}, name
        assert service["cap_add"] == ["NET_ADMIN"], name
        expected = (
            FAULTS if deployment[name]["labels"]["org.raftq.role"] == "backend" else FAULTS[:1]
        )
        assert set(service["environment"]) == set(expected), name


def test_raftq_compose_adds_the_chaos_file_only_when_asked() -> None:
    script = (COMPOSE_DIR / "raftq-compose").read_text()
    assert 'if [[ "${RAFTQ_CHAOS:-}" == 1 ]]; then' in script
    assert '-f "$here/docker-compose.chaos.yml"' in script

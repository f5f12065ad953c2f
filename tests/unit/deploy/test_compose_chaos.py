"""The compose deployment serves without the chaos suite's faults: NET_ADMIN, the fault clock and
the fsync witness are only in docker-compose.chaos.yml, which gives NET_ADMIN to every container
the suite partitions and heals (the Raft nodes and the frontends: tests/chaos/deployment.py's
`nodes`), the faults to the Raft nodes, and nothing else (raftq-compose adds it with
RAFTQ_CHAOS=1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.chaos.deployment import NODE_ROLES

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


def test_the_chaos_file_covers_every_node_the_suite_acts_on_and_nothing_else() -> None:
    deployment = _services("docker-compose.yml")
    chaos = _services("docker-compose.chaos.yml")
    # The chaos suite's nodes (Deployment.nodes): every service it may partition, pause or heal.
    suite_nodes = {
        name
        for name, service in deployment.items()
        if service["labels"]["org.raftq.role"] in NODE_ROLES
    }
    assert set(chaos) == suite_nodes
    for name, service in chaos.items():
        role = deployment[name]["labels"]["org.raftq.role"]
        assert service["cap_add"] == ["NET_ADMIN"], name
        expected = {"backend": FAULTS, "metadata": FAULTS[:1]}.get(role, ())
        assert set(service.get("environment", {})) == set(expected), name


def test_raftq_compose_adds_the_chaos_file_only_when_asked() -> None:
    script = (COMPOSE_DIR / "raftq-compose").read_text()
    assert 'if [[ "${RAFTQ_CHAOS:-}" == 1 ]]; then' in script
    assert '-f "$here/docker-compose.chaos.yml"' in script

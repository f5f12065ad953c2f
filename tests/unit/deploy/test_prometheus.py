"""The Prometheus of the compose deployment: its rules pass `promtool check rules` and their
unit tests (prometheus_rules_test.yml: each alert fires on the series that should raise it and
stays quiet otherwise), its configuration passes `promtool check config`, and it scrapes every
metadata, backend and frontend service of docker-compose.yml, over TLS where the node serves it.

promtool comes from Debian's `prometheus` package (scripts/test installs it); without it these
skip, which CI counts as a failure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = Path(__file__).with_name("prometheus_rules_test.yml")
# The rules the deployment promises (docs/metrics.md).
ALERTS = {
    "RaftqQueueBacklogGrowing",
    "RaftqDeadLetterQueueNotEmpty",
    "RaftqNoLeader",
    "RaftqReplicaLagging",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, timeout=60, check=False, cwd=REPO
    )


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {"alert": set(), "record": set()}
    for path in RULES:
        for group in _yaml(path)["groups"]:
            for rule in group["rules"]:
                kind = "alert" if "alert" in rule else "record"
                names[kind].add(rule[kind])
    return names


def test_the_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    exercised = {
        alert["alertname"]
        for case in _yaml(RULE_TESTS)["tests"]
        for alert in case.get("alert_rule_test", [])
    }
    assert exercised >= ALERTS


def test_the_promised_alerts_are_defined() -> None:
    assert rule_names()["alert"] >= ALERTS


def test_the_configuration_passes_promtool_check(tmp_path: Path) -> None:
    # The rules are where the container mounts them; check the file with them beside it.
    config = _yaml(PROMETHEUS_DIR / "prometheus.yml")
    config["rule_files"] = [str(path) for path in RULES]
    checked_file = tmp_path / "prometheus.yml"
    checked_file.write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", "--syntax-only", str(checked_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_node_of_the_compose_deployment_is_scraped_over_its_own_scheme() -> None:
    compose = _yaml(REPO / "deploy" / "compose" / "docker-compose.yml")
    services = compose["services"]
    by_role: dict[str, set[str]] = {}
    for name, service in services.items():
        by_role.setdefault(service["labels"]["org.raftq.role"], set()).add(name)
    config = _yaml(PROMETHEUS_DIR / "prometheus.yml")
    scraped: dict[str, set[str]] = {}
    for job in config["scrape_configs"]:
        hosts = {t.split(":")[0] for c in job["static_configs"] for t in c["targets"]}
        (tier,) = {c["labels"]["tier"] for c in job["static_configs"]}
        scraped[tier] = hosts
        # metadata and backend nodes serve their API port with TLS only; frontends plain HTTP
        assert (job.get("scheme") == "https") == (tier != "frontend"), job["job_name"]
    assert scraped == {role: by_role[role] for role in ("metadata", "backend", "frontend")}
    prometheus = services["prometheus"]
    mounts = prometheus["volumes"]
    assert "../prometheus:/etc/raftq-prometheus:ro" in mounts
    assert prometheus["secrets"] == ["tls_ca.crt"]
    # The frontends serve /metrics where the scrape looks for it
    for frontend in by_role["frontend"]:
        assert "--metrics-listen 0.0.0.0:9090" in " ".join(services[frontend]["command"].split())

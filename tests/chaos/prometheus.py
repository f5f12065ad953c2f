"""The compose deployment's Prometheus, asked over its HTTP API (test_matrix.py checks it on the
deployment the matrix brings up): which rules it loaded, which targets it scrapes, and what a
query answers. Every wait is bounded."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.chaos.deployment import REPO, Deployment

PORT = 9090
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
T = TypeVar("T")


class Prometheus:
    def __init__(self, deployment: Deployment) -> None:
        self._base = f"http://{deployment.address('prometheus')}:{PORT}"

    def get(self, path: str, **params: str) -> Any:
        """The `data` of a successful API answer."""
        query = urllib.parse.urlencode(params)
        url = f"{self._base}{path}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        data = self.get("/api/v1/query", query=expression)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def rules(self) -> dict[str, str]:
        """Every loaded rule's name (alert or record) and its health."""
        return {
            rule["name"]: rule["health"]
            for group in self.get("/api/v1/rules")["groups"]
            for rule in group["rules"]
        }


def defined_rules(rules_dir: Path = RULES_DIR) -> set[str]:
    """The names of the rules deploy/prometheus/rules/ defines."""
    names = set()
    for path in rules_dir.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule.get("alert") or rule["record"] for rule in group["rules"]}
    return names


def scraped_targets(config: Path = CONFIG) -> set[str]:
    """host:port of every target prometheus.yml scrapes."""
    jobs = yaml.safe_load(config.read_text())["scrape_configs"]
    return {t for job in jobs for c in job["static_configs"] for t in c["targets"]}


def eventually(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    """`probe`'s first answer that is not None, within `timeout_s`; a probe raises
    AssertionError (or an error of the request) to say what it saw instead, and the last one
    is in the failure."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (OSError, AssertionError, KeyError, ValueError) as error:
            found, last = None, error
        if found is not None:
            return found
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s (last: {last!r})")

"""`raftq admin` output against a real metadata group and two backend clusters: `--json` keeps
the shapes scripts parse (admin_json_shapes.py), and the default output is for people."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.admin_json_shapes import (
    JSON_SEQUENCE,
    RECORD_VARIABLE,
    load_golden,
    save_golden,
    shape,
)
from tests.integration.cluster import OPERATOR_SECRET, Cluster, eventually
from tests.integration.test_admin_cli import admin

pytestmark = pytest.mark.integration


async def two_clusters(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> dict[str, str]:
    """A metadata group and backend clusters c1 and c2, both reporting; `raftq admin`'s env."""
    master_key = tmp_path / "master.key"
    master_key.write_text("11" * 32)
    metadata = cluster_factory(
        "--master-key-file", str(master_key), name="metadata", kind="metadata"
    )
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    backends = [
        cluster_factory("--cluster-id", cluster_id, *registering, name=cluster_id)
        for cluster_id in ("c1", "c2")
    ]
    for cluster in (metadata, *backends):
        cluster.start_all()
    for cluster in (metadata, *backends):
        await cluster.leader(timeout_s=30)
    env = {
        **os.environ,
        "RAFTQ_METADATA": ",".join(node.api_address for node in metadata.nodes),
        "RAFTQ_OPERATOR_SECRET": OPERATOR_SECRET,
    }

    async def reporting() -> bool | None:
        done = admin(env, "--json", "clusters", "list")
        rows = json.loads(done.stdout) if done.returncode == 0 else []
        return True if len(rows) == 2 and all(r["reporting"] == 3 for r in rows) else None

    await eventually(reporting, timeout_s=60, what="both backend clusters to report")
    return env


async def test_admin_json_keeps_the_shapes_scripts_parse(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group and two backend clusters, and a master key file for the rewrap
    env = await two_clusters(cluster_factory, tmp_path)
    (tmp_path / "k9.key").write_text("99" * 32)
    # When every admin command runs with --json, in the recorded order
    shapes: dict[str, Any] = {}
    key_id = ""
    for line in JSON_SEQUENCE:
        argv = shlex.split(line.format(tmp=tmp_path, key_id=key_id))
        done = admin(env, "--json", *argv)
        assert done.returncode == 0, (line, done.stderr)
        output = json.loads(done.stdout)
        if line == "keys create app":
            key_id = output["key_id"]
        shapes[line] = shape(output)
    if os.environ.get(RECORD_VARIABLE) == "1":
        save_golden(shapes)
    # Then each output has the keys and types it had when recorded
    golden = load_golden()
    for line in JSON_SEQUENCE:
        assert shapes[line] == golden[line], line

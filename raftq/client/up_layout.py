"""Where `raftq up` puts each process: the ports of its metadata group, its backend clusters
(`c1`, and `c2`… with `--clusters`) and its frontend, and the command line of each child.

From `--base-port` B: metadata m1..m3 Raft on B..B+2 and API on B+3..B+5; cluster c1's nodes
Raft on B+6..B+8 and API on B+9..B+11; the frontend on B+12 and its metrics on B+13; cluster cK
(K >= 2) on B+14+6(K-2) onwards, Raft then API as c1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from raftq.client.supervisor import ChildSpec

ZONES: Final = ("a", "b", "c")
DEFAULT_BASE_PORT: Final = 7700
MAX_CLUSTERS: Final = 4
RAFT_SECRET_FILE: Final = "raft.secret"
OPERATOR_SECRET_FILE: Final = "operator.secret"
FRONTEND_CREDENTIAL_FILE: Final = "frontend.credential"
FRONTEND: Final = "frontend"


def ports_used(clusters: int) -> int:
    return 14 + 6 * (clusters - 1)


def cluster_ids(layout: dict[str, Any]) -> list[str]:
    return [f"c{k}" for k in range(1, int(layout.get("clusters", 1)) + 1)]


def _cluster_offset(cluster_id: str) -> int:
    k = int(cluster_id.removeprefix("c"))
    return 6 if k == 1 else 14 + 6 * (k - 2)


def ports(layout: dict[str, Any]) -> dict[int, str]:
    """Every port the layout listens on, and what listens there (for the check before start)."""
    base = layout["base_port"]
    named = {base + 12: "the frontend", base + 13: "the frontend's metrics"}
    groups = [("metadata", 0, "m")] + [
        (f"cluster {c}", _cluster_offset(c), f"{c}-n") for c in cluster_ids(layout)
    ]
    for group, first, prefix in groups:
        for i in range(3):
            named[base + first + i] = f"Raft of {group} node {prefix}{i + 1}"
            named[base + first + 3 + i] = f"API of {group} node {prefix}{i + 1}"
    return named


@dataclass(frozen=True)
class FrontendOptions:
    """What `raftq up` passes on to its frontend; None: the frontend's default."""

    rate_limit_per_key: float | None = None
    rate_limit_per_queue: float | None = None
    usage_log: bool = False

    def argv(self, data_dir: Path) -> tuple[str, ...]:
        flags: list[str] = []
        if self.rate_limit_per_key is not None:
            flags += ["--key-rate", f"{self.rate_limit_per_key:g}"]
        if self.rate_limit_per_queue is not None:
            flags += ["--queue-rate", f"{self.rate_limit_per_queue:g}"]
        if self.usage_log:
            flags += ["--usage-log", str(data_dir / "usage.log")]
        return tuple(flags)


def _members(layout: dict[str, Any], first: int, prefix: str) -> list[tuple[str, str, str, str]]:
    host, base = layout["host"], layout["base_port"] + first
    return [
        (f"{prefix}{i + 1}", zone, f"{host}:{base + i}", f"{host}:{base + 3 + i}")
        for i, zone in enumerate(ZONES)
    ]


def frontend_address(layout: dict[str, Any]) -> str:
    return f"{layout['host']}:{layout['base_port'] + 12}"


def metadata_addresses(layout: dict[str, Any]) -> list[str]:
    return [api for _, _, _, api in _members(layout, 0, "m")]


def backend_addresses(layout: dict[str, Any], cluster_id: str = "c1") -> list[str]:
    """The API addresses of a backend cluster's members (their `/metrics`, for tools)."""
    return [
        api for _, _, _, api in _members(layout, _cluster_offset(cluster_id), f"{cluster_id}-n")
    ]


def children(
    data_dir: Path, layout: dict[str, Any], options: FrontendOptions | None = None
) -> list[ChildSpec]:
    options = options or FrontendOptions()
    python = (sys.executable, "-m", "raftq.client.cli")
    secret = ("--secret-file", str(data_dir / "secret"))  # nodes only
    raft_secret = ("--raft-secret-file", str(data_dir / RAFT_SECRET_FILE))  # members only
    operator_secret = ("--operator-secret-file", str(data_dir / OPERATOR_SECRET_FILE))
    # People read these logs (data_dir/logs/*.log): one readable line a record.
    human_logs = ("--log-format", "human")
    specs = []
    groups: list[tuple[str, list[tuple[str, str, str, str]], tuple[str, ...]]] = [
        ("metadata", _members(layout, 0, "m"), ("--master-key-file", str(data_dir / "master.key"))),
    ]
    groups += [
        (
            "backend",
            _members(layout, _cluster_offset(cluster_id), f"{cluster_id}-n"),
            (
                "--cluster-id",
                cluster_id,
                *(arg for api in metadata_addresses(layout) for arg in ("--metadata", api)),
            ),
        )
        for cluster_id in cluster_ids(layout)
    ]
    for kind, members, extra in groups:
        member_args = tuple(arg for m in members for arg in ("--member", ",".join(m)))
        for node_id, *_ in members:
            argv = (
                *python,
                kind,
                "--node-id",
                node_id,
                "--data-dir",
                str(data_dir / kind / node_id),
                *member_args,
                *secret,
                *raft_secret,
                *operator_secret,
                *human_logs,
                *extra,
            )
            specs.append(ChildSpec(node_id, argv, data_dir / "logs" / f"{node_id}.log"))
    frontend = (
        *python,
        "frontend",
        "--listen",
        frontend_address(layout),
        *(arg for api in metadata_addresses(layout) for arg in ("--metadata", api)),
        "--credential-file",
        str(data_dir / FRONTEND_CREDENTIAL_FILE),
        "--master-key",
        f"k1={data_dir / 'frontend.key'}",
        "--metrics-listen",
        f"{layout['host']}:{layout['base_port'] + 13}",
        *human_logs,
        *options.argv(data_dir),
    )
    specs.append(ChildSpec(FRONTEND, frontend, data_dir / "logs" / "frontend.log"))
    return specs

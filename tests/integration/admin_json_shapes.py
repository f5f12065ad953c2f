"""The shapes of `raftq admin --json` output, and the command sequence that shows them.

Scripts parse `--json`, so its shape is a contract: admin_json_shapes.json holds, for each
command below, the keys and value types its output had when it was recorded (before the human
tables came in). `RAFTQ_RECORD_ADMIN_JSON=1` rewrites that file from the code under test; a
test compares against it otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("admin_json_shapes.json")
RECORD_VARIABLE = "RAFTQ_RECORD_ADMIN_JSON"

# Run in this order against a metadata group with backend clusters c1 and c2 (and a file
# `{tmp}/k9.key` holding a master key). `{key_id}` is the key made by `keys create app`.
JSON_SEQUENCE: tuple[str, ...] = (
    "clusters list",
    "clusters show c1",
    "principals create app",
    "principals create gone",
    "principals delete gone",
    "principals list",
    "keys create app",
    "keys revoke {key_id}",
    "grants add app orders-* send receive",
    "grants add app extra-* delete",
    "grants remove app extra-*",
    "grants list",
    "queues create orders-1 --visibility-timeout-s 60",
    "queues create orders-dlq",
    "queues list",
    "queues show orders-1",
    "queues set orders-1 --dead-letter-queue orders-dlq --max-receive-count 5",
    "queues move orders-1 --to c2",
    "clusters drain c2",
    "clusters drain c2 --undo",
    "raft status",
    "members list c1",
    "members list metadata",
    "frontends create fe-1",
    "frontends create fe-2 --write {tmp}/fe-2.credential",
    "frontends create fe-2 --write {tmp}/fe-2.credential --if-missing",
    "frontends list",
    "frontends revoke fe-1",
    "audit",
    "data-keys rewrap --master-key k9={tmp}/k9.key --current-master-key k9",
    "backup queue orders-1 --to {tmp}/orders-1.backup",
    "backup cluster c1 --to {tmp}/c1.backup",
    "restore {tmp}/orders-1.backup --as orders-copy",
    "queues delete orders-1",
)


def shape(value: Any) -> Any:
    """Keys and value types, recursively; a list is the sorted set of its items' shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return [json.loads(item) for item in sorted(shapes)]
    if value is None:
        return "null"
    return type(value).__name__


def load_golden() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(GOLDEN.read_text())
    return recorded


def save_golden(shapes: dict[str, Any]) -> None:
    GOLDEN.write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")

"""The REST batch routes (`messages:batch`, `messages:delete`, `messages:visibility`) signed by
curl's `--aws-sigv4` exactly as the README signs its requests: curl signs the path as sent (the
`:` unencoded) where AWS SDKs encode it, and the frontend must accept both."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def curl(deployment: Deployment, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request signed by curl (the README's SIGN flags); its JSON answer."""
    command = [
        "curl", "-sS", "--fail-with-body", "--max-time", "20",
        "--aws-sigv4", "aws:amz:us-east-1:sqs",
        "--user", f"{deployment.key_id}:{deployment.secret}",
        "-H", "Content-Type: application/json",
    ]  # fmt: skip
    if body is not None:
        command += ["-d", json.dumps(body)]
    done = subprocess.run(
        [*command, deployment.endpoint + path],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (path, done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_curl_signs_the_three_batch_routes(deployment: Deployment) -> None:
    assert shutil.which("curl"), "this test runs curl"
    curl(deployment, "/v1/queues", {"name": "curl-batches"})
    messages = "/v1/queues/curl-batches/messages"
    sent = curl(
        deployment,
        messages + ":batch",
        {"entries": [{"id": "a", "body": "one"}, {"id": "b", "body": "two"}]},
    )
    assert sorted(sent["sent"]) == ["a", "b"] and sent["failed"] == []
    received = curl(deployment, messages + "?max=10&visibility_timeout_s=30")["messages"]
    assert sorted(m["body"] for m in received) == ["one", "two"]
    handles = {f"h{i}": m["receipt_handle"] for i, m in enumerate(received)}
    entries = [
        {"id": i, "receipt_handle": h, "visibility_timeout_s": 60} for i, h in handles.items()
    ]
    changed = curl(deployment, messages + ":visibility", {"entries": entries})
    assert sorted(changed["succeeded"]) == sorted(handles) and changed["failed"] == []
    entries = [{"id": i, "receipt_handle": h} for i, h in handles.items()]
    deleted = curl(deployment, messages + ":delete", {"entries": entries})
    assert sorted(deleted["succeeded"]) == sorted(handles) and deleted["failed"] == []
    counts = curl(deployment, "/v1/queues/curl-batches")["counts"]
    assert counts == {"visible": 0, "in_flight": 0, "delayed": 0, "dead_letter_pending": 0}

"""The REST API as curl sees it, signed by `--aws-sigv4` exactly as the README signs its
requests: the batch routes (`messages:batch`, `messages:delete`, `messages:visibility`), whose
path curl signs as sent (the `:` unencoded) where AWS SDKs encode it, and what a receive of a
large body costs on the wire."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def curl(deployment: Deployment, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request signed by curl (the README's SIGN flags); its JSON answer."""
    return json.loads(curl_text(deployment, path, body))


def curl_text(deployment: Deployment, path: str, body: dict[str, Any] | None = None) -> str:
    """One request signed by curl (the body on stdin: it may be megabytes); the answer as sent."""
    command = [
        "curl", "-sS", "--fail-with-body", "--max-time", "20",
        "--aws-sigv4", "aws:amz:us-east-1:sqs",
        "--user", f"{deployment.key_id}:{deployment.secret}",
        "-H", "Content-Type: application/json",
    ]  # fmt: skip
    if body is not None:
        command += ["--data-binary", "@-"]
    done = subprocess.run(
        [*command, deployment.endpoint + path],
        input=None if body is None else json.dumps(body),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (path, done.stdout[:500], done.stderr)
    return done.stdout


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


def test_a_received_body_comes_back_once_text_or_base64(deployment: Deployment) -> None:
    """A 1 MiB body costs its base64 (binary) or itself (text) in a receive's JSON, not both:
    with `body` and `body_base64` in every message, a 1 MiB text message was 2.4 MB of JSON."""
    size = 1_048_576 - 64
    binary, text = os.urandom(size), "t" * size
    sends = {"binary": {"body_base64": base64.b64encode(binary).decode()}, "text": {"body": text}}
    for kind, send in sends.items():
        attributes = {"max_message_bytes": 1_048_576}
        curl(deployment, "/v1/queues", {"name": f"curl-big-{kind}", "attributes": attributes})
        curl(deployment, f"/v1/queues/curl-big-{kind}/messages", send)
    answer = curl_text(deployment, "/v1/queues/curl-big-binary/messages?visibility_timeout_s=0")
    assert len(answer) < 1.4e6, len(answer)
    [message] = json.loads(answer)["messages"]
    assert message["body"] is None and base64.b64decode(message["body_base64"]) == binary
    answer = curl_text(deployment, "/v1/queues/curl-big-text/messages?visibility_timeout_s=0")
    assert len(answer) < 1.1e6, len(answer)
    [message] = json.loads(answer)["messages"]
    assert message["body"] == text and message["body_base64"] is None
    # `bodies=both`: the earlier answer, base64 in every message, for clients that read only it
    both = curl(deployment, "/v1/queues/curl-big-text/messages?bodies=both")["messages"]
    assert base64.b64decode(both[0]["body_base64"]).decode() == text == both[0]["body"]


def test_a_binary_body_is_sent_as_its_bytes(deployment: Deployment, tmp_path: Path) -> None:
    """`Content-Type: application/octet-stream`: the request body is the message (1 MiB of it
    costs 1 MiB on the wire, not 1.4 MB of base64), its options in the query."""
    curl(
        deployment,
        "/v1/queues",
        {"name": "curl-raw", "attributes": {"max_message_bytes": 1_048_576}},
    )
    body = os.urandom(1_048_576 - 64)
    (tmp_path / "body").write_bytes(body)
    messages = f"{deployment.endpoint}/v1/queues/curl-raw/messages"
    sent = raw_curl(
        tmp_path / "body", messages + "?priority=7", deployment, "application/octet-stream"
    )
    assert sent.returncode == 0 and not json.loads(sent.stdout)["duplicate"], sent
    [message] = curl(deployment, "/v1/queues/curl-raw/messages")["messages"]
    assert base64.b64decode(message["body_base64"]) == body
    # A JSON send's options go in its body: one in the query is refused, not ignored.
    (tmp_path / "json").write_text(json.dumps({"body": "x"}))
    refused = raw_curl(tmp_path / "json", messages + "?delay_s=5", deployment, "application/json")
    assert refused.returncode == 22 and json.loads(refused.stdout)["field"] == "delay_s", refused
    (tmp_path / "small").write_bytes(b"\x00")
    bad = raw_curl(
        tmp_path / "small", messages + "?priority=10", deployment, "application/octet-stream"
    )
    assert json.loads(bad.stdout)["field"] == "priority", bad


def raw_curl(
    data: Path, url: str, deployment: Deployment, content_type: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl", "-sS", "--fail-with-body", "--max-time", "20",
            "--aws-sigv4", "aws:amz:us-east-1:sqs",
            "--user", f"{deployment.key_id}:{deployment.secret}",
            "-H", f"Content-Type: {content_type}", "--data-binary", f"@{data}", url,
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip

"""`raftq send` from stdin or a file, `raftq receive --follow`, and `raftq queues
create|list|purge|delete`, as real processes against a real `raftq up`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from raftq.client.sdk import Client
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def raftq(
    deployment: Deployment, *argv: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", *argv],
        env=deployment.env, input=stdin, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


def lines(finished: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    assert finished.returncode == 0, finished.stderr
    return [json.loads(line) for line in finished.stdout.splitlines()]


def test_queue_commands_create_list_purge_and_delete(deployment: Deployment) -> None:
    (created,) = lines(
        raftq(deployment, "queues", "create", "cli-q", "--attribute", "visibility_timeout_s=45")
    )
    assert created["name"] == "cli-q"
    assert lines(raftq(deployment, "stats", "cli-q"))[0]["attributes"]["visibility_timeout_s"] == 45
    listed = lines(raftq(deployment, "queues", "list", "--prefix", "cli-"))
    assert [q["name"] for q in listed] == ["cli-q"]
    lines(raftq(deployment, "send", "cli-q", "one"))
    assert lines(raftq(deployment, "queues", "purge", "cli-q")) == [{"purged": "cli-q"}]
    assert lines(raftq(deployment, "receive", "cli-q")) == []
    assert lines(raftq(deployment, "queues", "delete", "cli-q")) == [{"deleted": "cli-q"}]
    assert lines(raftq(deployment, "queues", "list", "--prefix", "cli-")) == []
    # Bad input names the flag and changes nothing
    bad = raftq(deployment, "queues", "create", "cli-bad", "--attribute", "novalue")
    assert bad.returncode == 1 and b"--attribute 'novalue'" in bad.stderr
    assert lines(raftq(deployment, "queues", "list", "--prefix", "cli-")) == []


def test_send_takes_its_body_from_stdin_or_a_file(deployment: Deployment, tmp_path: Path) -> None:
    lines(raftq(deployment, "queues", "create", "cli-bodies"))
    lines(raftq(deployment, "send", "cli-bodies", stdin=b"from stdin\n"))
    document = tmp_path / "body.bin"
    document.write_bytes(b"\xff\x00binary")
    lines(raftq(deployment, "send", "cli-bodies", "--file", str(document)))
    lines(raftq(deployment, "send", "cli-bodies", "--file", "-", stdin=b"dash"))
    both = raftq(deployment, "send", "cli-bodies", "text", "--file", str(document))
    assert both.returncode == 1 and b"not both" in both.stderr
    with Client(deployment.endpoint, deployment.key_id, deployment.secret) as client:
        received = client.receive("cli-bodies", max_messages=10, wait_s=1)
        received += client.receive("cli-bodies", max_messages=10, wait_s=1)
    assert sorted(m.body_bytes for m in received) == sorted(
        [b"from stdin\n", b"\xff\x00binary", b"dash"]
    )


def test_receive_follow_prints_each_message_as_it_comes_until_ctrl_c(
    deployment: Deployment,
) -> None:
    lines(raftq(deployment, "queues", "create", "cli-follow"))
    follower = subprocess.Popen(
        [sys.executable, "-m", "raftq.client.cli", "receive", "cli-follow", "--follow",
         "--delete", "--wait-s", "1"],
        env=deployment.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follower.stdout is not None
        for body in ("first", "second"):
            lines(raftq(deployment, "send", "cli-follow", body))
            assert json.loads(follower.stdout.readline())["body"] == body  # as it comes
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=30)
        assert follower.returncode == 130
        assert "Traceback" not in stderr
    finally:
        if follower.poll() is None:
            follower.kill()
    assert lines(raftq(deployment, "receive", "cli-follow")) == []  # --delete deleted them

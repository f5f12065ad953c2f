"""The README's Tasks block, run as written (bash, curl, a worker module written by the block and
`raftq worker` in the background) against a real `raftq up`: submit, run, read the status."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

BLOCK_TIMEOUT_S = 120


def tasks_block() -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("\n## Tasks\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0] + "\n"


def test_the_readme_tasks_block_works_as_written(deployment: Deployment, tmp_path: Path) -> None:
    assert shutil.which("curl"), "the block uses curl"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the environment raftq is installed in
    (tmp_path / "raftq-data").symlink_to(deployment.data_dir)
    # Its own process group: the worker the block starts in the background goes with it, even
    # when the block fails or hangs before it stops the worker itself. Output goes to files, not
    # pipes, so a block that failed returns at once (a worker left running holds no pipe open).
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        block = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", tasks_block()],
            cwd=tmp_path, stdout=out, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        block.wait(timeout=BLOCK_TIMEOUT_S)
    finally:
        # Gone already if the block and everything it started have ended.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(block.pid, signal.SIGKILL)
        block.wait()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert block.returncode == 0, (stdout, stderr)
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    created, submitted, status = lines
    assert created["name"] == "thumbnails"
    assert submitted["duplicate"] is False and submitted["task_id"]
    assert status["task_id"] == submitted["task_id"]
    assert status["type"] == "thumbnail.make"
    assert status["state"] == "succeeded"
    assert status["attempt"] == 1
    assert status["result"] == {"thumbnail": "cat.jpg.128x96.png"}
    assert status["worker_id"] and status["finished_at_ms"] >= status["created_at_ms"]
    assert (tmp_path / "tasks_demo.py").exists()
    # The worker stopped on SIGTERM (the block waited for it, and `set -e` made its exit code
    # the block's): it says so in its log.
    assert "stopping: no new leases" in stderr, stderr

"""The README's quickstart, run as written (bash, curl and the raftq command) against a real
`raftq up`: the two-command promise of the README is only as good as this block."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def quickstart_block() -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_quickstart_works_as_written(deployment: Deployment, tmp_path: Path) -> None:
    assert shutil.which("curl"), "the quickstart uses curl"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the environment raftq is installed in
    (tmp_path / "raftq-data").symlink_to(deployment.data_dir)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", quickstart_block()],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    created, sent, received_by_curl, *rest = lines
    assert created["name"] == "orders" and not sent["duplicate"]
    assert [m["body"] for m in received_by_curl["messages"]] == ["hello"]
    bodies = sorted(line["body"] for line in rest if "receipt_handle" in line)
    assert bodies == ["hello", "hello again"]
    assert rest[-1]["counts"] == {
        "visible": 0,
        "in_flight": 0,
        "delayed": 0,
        "dead_letter_pending": 0,
    }

"""The README's "Use it from boto3 / the AWS CLI" block, run as written against a real
`raftq up`, with boto3 from the dev environment and the AWS CLI from its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def sqs_block() -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Use it from boto3 / the AWS CLI", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def test_the_readme_sqs_example_works_as_written(deployment: Deployment, tmp_path: Path) -> None:
    cli = os.environ.get("RAFTQ_AWS_CLI")
    if not cli:
        pytest.skip("RAFTQ_AWS_CLI is not set (scripts/test sets it)")
    (tmp_path / "raftq-data").symlink_to(deployment.data_dir)
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(Path(cli).parent), "/usr/bin:/bin"]
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", sqs_block()],
        cwd=tmp_path,
        env={"PATH": path, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    printed, attributes = done.stdout.split("\n", 1)
    assert printed == "hello from boto3"
    assert json.loads(attributes)["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"

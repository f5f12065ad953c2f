"""The light client install: `pip install raftq` (no extra) brings the SDK and the CLI's data
commands with aiohttp alone, none of the server's packages, and they work against a real raftq;
a command that needs an extra says which one to install instead of a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {
    "pysyncobj",
    "rocksdict",
    "pydantic",
    "msgpack",
    "cryptography",
    "opentelemetry-sdk",
}


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("light") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
        capture_output=True, text=True, timeout=600, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore", "HOME": str(venv)},
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return venv


def test_the_client_installs_without_the_servers_packages(light_venv: Path) -> None:
    listed = subprocess.run(
        [str(light_venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    names = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert {"raftq", "aiohttp"} <= names
    assert not names & SERVER_PACKAGES, names & SERVER_PACKAGES


def test_the_data_commands_and_the_sdk_work_from_the_light_install(
    light_venv: Path, deployment: Deployment
) -> None:
    raftq = str(light_venv / "bin" / "raftq")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [raftq, *argv], env=deployment.env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    assert run("queues", "create", "light").returncode == 0
    sent = run("send", "light", "from the light client")
    assert sent.returncode == 0, sent.stderr
    sdk = subprocess.run(
        [str(light_venv / "bin" / "python"), "-c",
         "from raftq.client.sdk import Client\n"
         "with Client.from_env() as c:\n"
         "    print([m.body for m in c.receive('light', max_messages=10)])"],
        env=deployment.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sdk.returncode == 0, sdk.stderr
    assert sdk.stdout.strip() == "['from the light client']"


@pytest.mark.parametrize(("command", "extra"), [("up", "server"), ("worker", "worker")])
def test_a_command_that_needs_an_extra_names_it(light_venv: Path, command: str, extra: str) -> None:
    done = subprocess.run(
        [str(light_venv / "bin" / "raftq"), command, "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"pip install 'raftq[{extra}]'" in done.stderr and "Traceback" not in done.stderr

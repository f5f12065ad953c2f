"""The client does not pull in the server: importing the SDK or the CLI, or parsing a data
command, loads no module of the frontend, backend, metadata or Raft packages, nor aiohttp's
server. Each check runs in a fresh interpreter, so modules other tests loaded do not count."""

from __future__ import annotations

import subprocess
import sys

import pytest

SERVER_PACKAGES = ("raftq.frontend", "raftq.backend", "raftq.metadata", "raftq.raft")
SERVER_LIBRARIES = ("aiohttp.web", "pysyncobj", "rocksdict")


def _modules_loaded_by(code: str) -> list[str]:
    program = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    return finished.stdout.split()


def _server_modules(loaded: list[str]) -> list[str]:
    return [
        name
        for name in loaded
        if any(name == p or name.startswith(p + ".") for p in SERVER_PACKAGES + SERVER_LIBRARIES)
    ]


@pytest.mark.parametrize("module", ["raftq.client.sdk", "raftq.client.cli"])
def test_importing_a_client_module_loads_no_server_module(module: str) -> None:
    # Given a fresh interpreter
    # When it imports the client module
    loaded = _modules_loaded_by(f"import {module}")
    # Then nothing of the server came with it
    assert module in loaded
    assert _server_modules(loaded) == []


def test_parsing_a_data_command_loads_no_server_module() -> None:
    loaded = _modules_loaded_by(
        "import contextlib, io\n"
        "from raftq.client.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['send', '--help'])"
    )
    assert _server_modules(loaded) == []


def test_the_frontend_command_still_parses_its_own_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from raftq.client.cli import main  # noqa: PLC0415

    # When the command line names the frontend, its parser (and only then its module) is loaded
    with pytest.raises(SystemExit):
        main(["frontend", "--help"])
    assert "--listen" in capsys.readouterr().out
    # And `raftq --help` lists it without loading it
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "run one frontend" in capsys.readouterr().out

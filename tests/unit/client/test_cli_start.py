"""The command line starts light: `raftq --help`, `raftq --version` and `raftq status` load
none of the heavy libraries (aiohttp, pydantic, RocksDB, pysyncobj), each checked in a fresh
interpreter; Ctrl-C and a closed pipe end a command without a traceback."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.client import cli

HEAVY = ("aiohttp", "pydantic", "rocksdict", "pysyncobj", "yarl")


def _heavy_modules_loaded_by(argv: list[str]) -> list[str]:
    program = (
        "import contextlib, io, sys\n"
        "from raftq.client.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    return [m for m in finished.stdout.split() if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["status", "--data-dir", "/nonexistent"]]
)
def test_a_light_command_loads_no_heavy_library(argv: list[str]) -> None:
    assert _heavy_modules_loaded_by(argv) == []


def test_version_prints_the_installed_version() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "--version"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert finished.stdout.startswith("raftq 0.")


def test_ctrl_c_ends_a_command_with_130_and_no_traceback(tmp_path: Path) -> None:
    # A command that blocks (a stand-in for `raftq demo`, which says when it is running),
    # interrupted as a terminal would
    process = subprocess.Popen(
        [sys.executable, "-c",
         "import time, raftq.client.cli as cli\n"
         "cli._demo = lambda args: print('running', flush=True) or time.sleep(60) or 0\n"
         "raise SystemExit(cli.main(['demo']))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "running\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in stderr


@pytest.mark.parametrize("argv", [["--help"], ["demo"]])
def test_a_closed_pipe_ends_a_command_quietly(argv: list[str]) -> None:
    # `raftq demo | head -0`: the reader is gone before the command writes a line
    reader, writer = os.pipe()
    os.close(reader)
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "raftq.client.cli", *argv],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert finished.stderr == ""


def _undocumented(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _undocumented(sub, f"{path} {name}")
        elif action.help is None:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}"


def test_every_option_of_every_command_has_help() -> None:
    missing: list[str] = []
    for name in cli.COMMANDS:
        commands = cli._parser(name)._subparsers._group_actions[0]  # type: ignore[union-attr]
        assert isinstance(commands, argparse._SubParsersAction)
        missing += _undocumented(commands.choices[name], f"raftq {name}")
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["up", "--help"], "(default: 7700)"),
        (["receive", "--help"], "(default: 10)"),
        (["admin", "queues", "create", "--help"], "(default: 10)"),
        (["backend", "--help"], "(default: 1000)"),
    ],
)
def test_help_gives_the_defaults(
    argv: list[str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert shown in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("kind", "own", "others"),
    [
        ("backend", ["--cluster-id", "--due-transitions-per-entry"], ["--master-key-file"]),
        ("metadata", ["--master-key-file"], ["--cluster-id", "--metadata", "--due-transitions"]),
    ],
)
def test_a_node_command_lists_only_its_own_flags(
    kind: str, own: list[str], others: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main([kind, "--help"])
    shown = capsys.readouterr().out
    assert all(flag in shown for flag in own)
    assert not [flag for flag in others if flag in shown]

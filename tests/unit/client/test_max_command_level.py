"""`--max-command-level` (or RAFTQ_MAX_COMMAND_LEVEL) runs a node at an older command level, as
the previous release, for rolling-upgrade tests: it reaches the Raft settings; a level this code
does not have, or one below the lowest it can write, is refused naming the field, before
anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftq.client.cli import main
from raftq.common.command_levels import CODE_LEVEL, MAX_COMMAND_LEVEL_ENV
from raftq.common.settings import NodeSettings
from tests.unit.client.test_node_commands import RAFT_SECRET, node_argv, started

__all__ = ["started"]  # the fixture, shared with the node-command tests


def argv(tmp_path: Path, *extra: str) -> list[str]:
    (tmp_path / "raft.secret").write_text(RAFT_SECRET)
    raft = ("--raft-secret-file", str(tmp_path / "raft.secret"))
    return node_argv("backend", tmp_path, *raft, *extra)


def test_a_node_runs_at_this_releases_level_by_default(
    tmp_path: Path, started: list[NodeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MAX_COMMAND_LEVEL_ENV, raising=False)
    assert main(argv(tmp_path)) == 0
    assert started[0].raft.max_command_level == CODE_LEVEL


def test_the_flag_caps_the_level(tmp_path: Path, started: list[NodeSettings]) -> None:
    assert main(argv(tmp_path, "--max-command-level", "2")) == 0
    assert started[0].max_command_level == 2
    assert started[0].raft.max_command_level == 2


def test_the_level_may_come_from_the_environment(
    tmp_path: Path, started: list[NodeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_COMMAND_LEVEL_ENV, "2")
    assert main(argv(tmp_path)) == 0
    assert started[0].raft.max_command_level == 2


@pytest.mark.parametrize("level", ["1", "4"])
def test_a_level_out_of_range_is_refused_naming_the_field(
    level: str,
    tmp_path: Path,
    started: list[NodeSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv(tmp_path, "--max-command-level", level))
    assert exit_info.value.code == 2
    assert "(max_command_level)" in capsys.readouterr().err
    assert started == []

"""The usage log: one JSON line per record, rotated by size so it never grows without bound."""

from __future__ import annotations

import json
from pathlib import Path

from raftq.frontend.usage import Usage


def _record(usage: Usage, n: int) -> None:
    usage.record(
        at_ms=n, key="AK1", principal="p", queue="orders", action="send", messages=1, size=100
    )


def test_the_log_is_rotated_at_its_size_and_keeps_only_its_backups(tmp_path: Path) -> None:
    # Given a usage log that rotates at 1 KiB and keeps two old files
    path = tmp_path / "usage.log"
    usage = Usage(path, max_bytes=1_024, backups=2)
    # When far more than four files' worth of records are written
    for n in range(200):
        _record(usage, n)
    usage.close()
    # Then there are the live file and two backups, none much above the limit, each whole lines
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["usage.log", "usage.log.1", "usage.log.2"]
    line_bytes = len((tmp_path / "usage.log.1").read_text().splitlines()[0]) + 1
    assert all(f.stat().st_size < 1_024 + line_bytes for f in files)

    # And the newest records are in the live file, the older ones in .1, then .2
    def times(name: str) -> list[int]:
        return [json.loads(line)["at_ms"] for line in (tmp_path / name).read_text().splitlines()]

    last, older = times("usage.log"), times("usage.log.1")
    assert last[-1] == 199 and older[-1] == last[0] - 1


def test_a_log_that_is_not_rotated_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "usage.log"
    usage = Usage(path, max_bytes=0)
    for n in range(200):
        _record(usage, n)
    usage.close()
    assert len(path.read_text().splitlines()) == 200
    assert [f.name for f in tmp_path.iterdir()] == ["usage.log"]


def test_a_reopened_log_counts_what_it_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "usage.log"
    path.write_text("x" * 2_000 + "\n")
    usage = Usage(path, max_bytes=1_024)
    _record(usage, 1)
    usage.close()
    assert (tmp_path / "usage.log.1").read_text() == "x" * 2_000 + "\n"
    assert len(path.read_text().splitlines()) == 1

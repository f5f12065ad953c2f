"""The clock-skew fault's clock: wall time moved by the offset in a file, re-read on a schedule."""

from __future__ import annotations

from pathlib import Path

from raftq.common.clock import FakeClock, OffsetClock, SystemClock, clock_from_environment


def test_the_offset_in_the_file_moves_wall_time_only(tmp_path: Path) -> None:
    base = FakeClock()
    offset_file = tmp_path / "offset"
    clock = OffsetClock(offset_file, base, reread_ms=100)
    assert clock.now_ms() == base.now_ms()  # no file: no offset

    offset_file.write_text("5000\n")
    base.advance(100)
    assert clock.now_ms() == base.now_ms() + 5_000
    assert clock.monotonic_ms() == base.monotonic_ms()

    offset_file.write_text("-2000")
    base.advance(99)  # not re-read yet
    assert clock.now_ms() == base.now_ms() + 5_000
    base.advance(1)
    assert clock.now_ms() == base.now_ms() - 2_000

    offset_file.unlink()  # healed
    base.advance(100)
    assert clock.now_ms() == base.now_ms()


def test_a_malformed_offset_file_means_no_offset(tmp_path: Path) -> None:
    base = FakeClock()
    offset_file = tmp_path / "offset"
    for text in ("", "5s", "1e3", "9" * 13, "５000", "\xff"):
        offset_file.write_bytes(text.encode("utf-8", "surrogateescape"))
        assert OffsetClock(offset_file, base).now_ms() == base.now_ms(), text


def test_only_the_environment_variable_turns_the_fault_clock_on(tmp_path: Path) -> None:
    assert isinstance(clock_from_environment({}), SystemClock)
    variable = {"RAFTQ_FAULT_CLOCK_OFFSET_FILE": str(tmp_path / "offset")}
    assert isinstance(clock_from_environment(variable), OffsetClock)

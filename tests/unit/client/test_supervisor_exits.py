"""The supervisor's report of a child that keeps exiting: its status, the delay before the
restart (doubling while it keeps exiting) and the last line of its log, with real child
processes. The only wait is for the children themselves to exit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from raftq.client.supervisor import ChildSpec, Exit, Supervisor, last_line

CRASH = "import sys; print('starting'); print('error: port 7712 in use', flush=True); sys.exit(3)"


def _exits(supervisor: Supervisor, count: int) -> list[Exit]:
    deadline = time.monotonic() + 20
    while len(supervisor.exits) < count:
        assert time.monotonic() < deadline, supervisor.exits
        supervisor.poll()
        time.sleep(0.01)
    return supervisor.exits


def test_a_crash_loop_is_reported_with_its_last_log_line_and_backs_off(tmp_path: Path) -> None:
    # Given a child that says why and exits, every time
    spec = ChildSpec("c1-n1", (sys.executable, "-c", CRASH), tmp_path / "c1-n1.log")
    supervisor = Supervisor([spec], tmp_path / "up.json", restart_delay_s=0.05)
    supervisor.start()
    try:
        # When it has exited three times
        exits = _exits(supervisor, 3)
    finally:
        supervisor.stop()
    # Then each exit names it, its status and its last line, and the delays double
    assert [(e.name, e.returncode, e.last_line) for e in exits] == [
        ("c1-n1", 3, "error: port 7712 in use")
    ] * 3
    assert [e.restart_in_s for e in exits] == [0.05, 0.1, 0.2]


def test_the_last_line_of_a_log_skips_blank_lines_and_reads_only_the_end(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    assert last_line(log) == ""  # no log yet
    log.write_text("x" * 100_000 + "\nfirst\nthe reason\n\n")
    assert last_line(log) == "the reason"

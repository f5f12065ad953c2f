"""Re-checking a stored cell: the history and nemesis log checked again, the live measurements
read back from its summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.history import Event, History
from tests.chaos.nemesis import NemesisEvent
from tests.chaos.recheck import main, recheck

S = 1_000_000_000


def _event(process: str, kind: str, f: str, at_s: float, **fields: object) -> Event:
    return Event.model_validate(
        {"process": process, "type": kind, "f": f, "t_mono_ns": int(at_s * S), "t_wall": at_s}
        | fields
    )


def _store_cell(folder: Path, summary: str) -> Path:
    cell = folder / "kill-leader"
    cell.mkdir()
    history = History(
        [
            _event("p0", "invoke", "send", 0.0, value="p0-0"),
            _event("p0", "ok", "send", 0.1, value="p0-0", message_id="m0"),
            _event("p0", "invoke", "send", 10.5, value="p0-1"),
            _event("p0", "ok", "send", 12.0, value="p0-1", message_id="m1"),
            _event("c0", "invoke", "receive", 12.0, visibility_timeout_ms=5000),
            _event(
                "c0",
                "ok",
                "receive",
                12.1,
                deliveries=[
                    {
                        "value": "p0-0",
                        "message_id": "m0",
                        "receipt_handle": "h0",
                        "receive_count": 1,
                    },
                    {
                        "value": "p0-1",
                        "message_id": "m1",
                        "receipt_handle": "h1",
                        "receive_count": 1,
                    },
                ],
            ),
        ]
    )
    history.dump(cell / "history.jsonl")
    kill = NemesisEvent(action="kill", target="c1-a", t_mono_ns=10 * S, t_wall=10.0)
    (cell / "nemesis.jsonl").write_text(kill.model_dump_json() + "\n")
    (cell / "summary.txt").write_text(summary)
    return cell


STORED = """cell kill-leader (60 s of faults)
drained: True
replicas of metadata: agree (applied index 10, one digest)
replicas of c1: DISAGREE (applied index 12 vs 11)
FAILED; artifacts: somewhere
"""


def test_a_stored_cell_is_checked_again_with_its_live_measurements(tmp_path: Path) -> None:
    # Given a stored cell whose replicas disagreed
    cell = _store_cell(tmp_path, STORED)
    # When re-checked
    result = recheck(cell)
    # Then the history is judged again, writes resumed 2 s after the kill, and the
    # disagreement still fails the cell
    assert result.summary.acknowledged == 2 and result.summary.lost == 0
    assert result.resumes == [2.0]
    assert result.fault_s == 60.0 and result.drained
    assert [(a.group, a.agreed) for a in result.agreements] == [("metadata", True), ("c1", False)]
    assert not result.passed
    assert (cell / "recheck.txt").read_text().startswith("cell kill-leader (60 s of faults)")
    assert main([str(cell)]) == 1


def test_a_summary_without_the_replicas_comparison_is_refused(tmp_path: Path) -> None:
    cell = _store_cell(tmp_path, "cell kill-leader (60 s of faults)\ndrained: True\n")
    with pytest.raises(ValueError, match="no comparison of the replicas"):
        recheck(cell)


def test_a_directory_that_is_not_a_cell_is_refused(tmp_path: Path) -> None:
    (tmp_path / "holiday-photos").mkdir()
    with pytest.raises(ValueError, match="is not a cell"):
        recheck(tmp_path / "holiday-photos")

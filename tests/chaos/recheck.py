"""Check stored cells again with the current checker and print their results table.

    .venv/bin/python -m tests.chaos.recheck tests/chaos/results/ci-long-*/kill-leader ...

Each cell directory holds what `run_cell` wrote: the history and the nemesis log are checked
again (the checker, the resume times); what was measured on the live deployment (whether the
drain finished, whether the replicas agreed, the nemesis's failed steps) is read back from its
summary.txt. Writes `recheck.txt` beside each summary. Exit status 0 when every cell passes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tests.chaos.checker import check
from tests.chaos.history import History
from tests.chaos.nemesis import NemesisEvent, resume_times
from tests.chaos.run import CELLS, Agreement, CellResult, matrix_table

_FAULT_S = re.compile(r"^cell \S+ \(([\d.]+) s of faults\)", re.MULTILINE)
_AGREEMENT = re.compile(r"^replicas of (\S+): (agree|DISAGREE) \((.*)\)$", re.MULTILINE)
_NEMESIS_ERRORS = re.compile(r"^NEMESIS ERRORS: \d+, first: (.*)$", re.MULTILINE)


def recheck(cell_dir: Path) -> CellResult:
    """The cell stored in `cell_dir`, checked again."""
    name = cell_dir.name
    if name not in CELLS:
        raise ValueError(f"{cell_dir}: {name!r} is not a cell")
    stored = (cell_dir / "summary.txt").read_text()
    fault_s = _FAULT_S.search(stored)
    if fault_s is None:
        raise ValueError(f"{cell_dir}/summary.txt does not name its fault time")
    agreements = [
        Agreement(group, verdict == "agree", None, detail)
        for group, verdict, detail in _AGREEMENT.findall(stored)
    ]
    if not agreements:
        raise ValueError(f"{cell_dir}/summary.txt has no comparison of the replicas")
    history = History.load(cell_dir / "history.jsonl")
    events = [
        NemesisEvent.model_validate_json(line)
        for line in (cell_dir / "nemesis.jsonl").read_text().splitlines()
        if line.strip()
    ]
    result = CellResult(
        cell=name,
        fault_s=float(fault_s.group(1)),
        summary=check(history, margin_ms=CELLS[name].lease_margin_ms),
        drained="\ndrained: True\n" in stored,
        resumes=resume_times(history, events),
        agreements=agreements,
        out=cell_dir,
        nemesis_errors=_NEMESIS_ERRORS.findall(stored),
    )
    (cell_dir / "recheck.txt").write_text(result.render() + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.recheck", description=__doc__)
    parser.add_argument("cells", nargs="+", type=Path, metavar="CELL_DIR")
    args = parser.parse_args(argv)
    results = [recheck(cell_dir) for cell_dir in args.cells]
    print(matrix_table(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The mutants of tests/chaos/mutant.py still apply to the pinned code: each one's text occurs
exactly once in the module it edits (otherwise its image build fails, and the demonstration
that the chaos suite catches it could not be repeated)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.chaos.mutant import MUTANTS
from tests.chaos.run import CELLS


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_mutant_edits_exactly_one_place_of_its_module(name: str) -> None:
    mutant = MUTANTS[name]
    module_file = importlib.import_module(mutant.module).__file__
    assert module_file is not None
    text = Path(module_file).read_text()
    assert text.count(mutant.before) == 1
    assert mutant.after not in text
    assert mutant.cell in CELLS

"""`raftq worker MODULE:REGISTRY`: what it refuses before connecting anywhere."""

from __future__ import annotations

import pytest

from raftq.client.cli import main
from raftq.worker.command import load_registry


def test_a_registry_reference_loads_the_registry_it_names() -> None:
    registry = load_registry("tests.unit.worker.process_handlers:tasks")
    assert registry.types == ["sleepy", "square"]


@pytest.mark.parametrize(
    ("reference", "complaint"),
    [
        ("no_colon", "MODULE:REGISTRY"),
        ("no.such.module:tasks", "cannot import"),
        ("tests.unit.worker.process_handlers:missing", "not a raftq.worker.Registry"),
        ("tests.unit.worker.process_handlers:square", "not a raftq.worker.Registry"),
    ],
)
def test_a_bad_reference_is_refused_with_exit_1(
    reference: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", reference, "--queue", "jobs"]) == 1
    assert complaint in capsys.readouterr().err


def test_the_queue_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "tests.unit.worker.process_handlers:tasks"])
    assert "--queue" in capsys.readouterr().err

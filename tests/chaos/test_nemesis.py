"""How long writes took to resume after each fault, from the history and the nemesis log."""

from __future__ import annotations

from tests.chaos.history import Event, History
from tests.chaos.nemesis import NemesisEvent, resume_times

S = 1_000_000_000


def send(process: str, value: str, start_s: float, end_s: float, outcome: str) -> list[Event]:
    base = {"process": process, "f": "send", "value": value, "t_wall": 0.0}
    return [
        Event.model_validate(base | {"type": "invoke", "t_mono_ns": int(start_s * S)}),
        Event.model_validate(base | {"type": outcome, "t_mono_ns": int(end_s * S)}),
    ]


def fault(action: str, at_s: float) -> NemesisEvent:
    return NemesisEvent.model_validate(
        {"action": action, "target": "c1-a", "t_mono_ns": int(at_s * S), "t_wall": 0.0}
    )


def test_writes_resume_at_the_first_acknowledged_send_invoked_after_the_fault() -> None:
    # Given a kill at 10 s; a send in flight across it (acknowledged at 10.5 s, so it does not
    # count); a send invoked at 10.2 s that timed out; one invoked at 11 s acknowledged at 13.5 s
    history = History(
        send("p0", "p0-0", 9.9, 10.5, "ok")
        + send("p1", "p1-0", 10.2, 15.2, "info")
        + send("p0", "p0-1", 11.0, 13.5, "ok")
    )
    # When measured, with the restart event that is not a fault
    times = resume_times(history, [fault("kill", 10.0), fault("start", 15.0)])
    # Then writes resumed 3.5 s after the kill
    assert times == [3.5]


def test_a_fault_after_which_no_send_was_acknowledged_never_resumed() -> None:
    history = History(send("p0", "p0-0", 1.0, 2.0, "ok"))
    assert resume_times(history, [fault("pause", 5.0)]) == [None]

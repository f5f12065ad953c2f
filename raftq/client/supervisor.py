"""Keeping a set of raftq processes running: start them, restart one that dies, stop them all.

A child that exits is started again after `restart_delay_s` (doubling while it keeps dying
within a minute, up to `MAX_RESTART_DELAY_S`), with its output appended to its log file; each
exit is reported (`Exit`) with the delay before the restart and the last line of the log, which
usually says why. `stop` sends SIGTERM to every child, waits up to `grace_s`, then kills what is
left. A supervisor that dies without `stop` (SIGKILL, a crash) takes its children with it: on
Linux each child asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so no
child outlives the supervisor. The state of every child (pid, restarts) is written to `state_path`
as JSON after each change, for operators and tests.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

MAX_RESTART_DELAY_S: Final = 30.0
_STABLE_AFTER_S: Final = 60.0
_PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>
PARENT_ENV: Final = "RAFTQ_SUPERVISOR_PID"  # set for a child: the supervisor's pid
_LAST_LINE_BYTES: Final = 4096


@dataclass(frozen=True)
class Exit:
    """A child that exited: its name, exit status, the seconds before its restart, and the last
    line of its log (empty when it wrote nothing)."""

    name: str
    returncode: int
    restart_in_s: float
    last_line: str


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    log_path: Path
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay_s: float = 0.0
    restart_at: float | None = None


@dataclass
class Supervisor:
    specs: Sequence[ChildSpec]
    state_path: Path
    restart_delay_s: float = 0.5
    grace_s: float = 10.0
    _children: list[_Child] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)  # the caller reports and clears them

    def start(self, deferred: Collection[str] = ()) -> None:
        """Start every child but the `deferred` ones, which `start_deferred` starts later (a
        frontend waits for the credential the metadata group issues it)."""
        self._children = [_Child(spec, delay_s=self.restart_delay_s) for spec in self.specs]
        for child in self._children:
            if child.spec.name not in deferred:
                self._spawn(child)
        self._write_state()

    def start_deferred(self, name: str) -> None:
        child = next(c for c in self._children if c.spec.name == name)
        if child.process is None:
            self._spawn(child)
            self._write_state()

    def poll(self) -> list[str]:
        """Restart children that died (once their delay passed); returns the names restarted."""
        now = time.monotonic()
        restarted = []
        for child in self._children:
            process = child.process
            if process is not None and process.poll() is not None and child.restart_at is None:
                stable = now - child.started_at >= _STABLE_AFTER_S
                child.delay_s = self.restart_delay_s if stable else child.delay_s
                child.restart_at = now + child.delay_s
                exit_ = Exit(
                    child.spec.name,
                    process.returncode,
                    child.delay_s,
                    last_line(child.spec.log_path),
                )
                self.exits.append(exit_)
                child.delay_s = min(child.delay_s * 2, MAX_RESTART_DELAY_S)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                restarted.append(child.spec.name)
        if restarted:
            self._write_state()
        return restarted

    def next_restart_in(self) -> float | None:
        """Seconds until the next restart that waits for its delay; None when none waits (the
        caller then sleeps until a child exits: `poll` is needed only then)."""
        pending = [c.restart_at for c in self._children if c.restart_at is not None]
        return None if not pending else max(0.0, min(pending) - time.monotonic())

    def stop(self) -> None:
        running = [c.process for c in self._children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self._children:
            child.restart_at = None
        self._write_state()

    def pids(self) -> dict[str, int | None]:
        return {
            c.spec.name: c.process.pid if c.process and c.process.poll() is None else None
            for c in self._children
        }

    def _spawn(self, child: _Child) -> None:
        child.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.spec.log_path.open("ab") as log:
            child.process = subprocess.Popen(
                child.spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **dict(child.spec.env), PARENT_ENV: str(os.getpid())},
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops children
            )
        child.started_at = time.monotonic()
        child.restart_at = None

    def _write_state(self) -> None:
        state = {
            c.spec.name: {
                "pid": c.process.pid if c.process and c.process.poll() is None else None,
                "restarts": c.restarts,
                "log": str(c.spec.log_path),
            }
            for c in self._children
        }
        scratch = self.state_path.with_suffix(".tmp")
        scratch.write_text(json.dumps(state, indent=2, sort_keys=True))
        scratch.replace(self.state_path)


def last_line(log_path: Path) -> str:
    """The last non-empty line of a log (read from its end: logs grow without bound)."""
    try:
        with log_path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - _LAST_LINE_BYTES))
            tail = log.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def die_with_parent() -> None:
    """Called first thing in a child (raftq/client/cli.py): SIGTERM to it when the supervisor
    named by `PARENT_ENV` dies, however it dies (the children run in sessions of their own, so
    no terminal signal reaches them). A supervisor that died before the request was made is
    caught by the parent-pid check. Done in the child, not in a `preexec_fn`, which is unsafe
    once the supervisor has threads."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if str(os.getppid()) != parent:
        os.kill(os.getpid(), signal.SIGTERM)

"""What both sides of the tasks benchmark share: the machine, CPU time of process trees from
/proc, execution records, percentiles.

Standard library only: the Celery side imports this module from its own virtualenv (Celery is
not a dependency of raftq), the raftq side from the project's.

Execution records: every task, on every attempt, appends one line to a file of its own process
(`<dir>/<tag>.<pid>.<thread>`): `<seq> <submitted_at_s> <started_at_s>\n`. One `write(2)` on an
O_APPEND descriptor, so lines never interleave. The driver counts lines per `seq`: a missing seq
is a lost task, a seq seen twice is a rerun (a duplicate execution).
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The no-op task's type on the raftq side (bench/tasks_raftq_app.py registers it).
TASK_TYPE = "taskbench.record"
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_record_files = threading.local()


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and kernel of this machine."""
    cpu = platform.processor() or "unknown cpu"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as meminfo:
        memory_gib = int(meminfo.readline().split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB RAM, "
        f"Linux {info['kernel']}, Python {info['python']}"
    )


def loadavg_1min() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- CPU of process trees -------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # After the command name, which may contain spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found, pending = [pid], [pid]
    while pending:
        kids = _children(pending.pop())
        found += kids
        pending += kids
    return found


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds (user + system) per live process of some trees, and what their roots have
    reaped from children that already ended (cutime + cstime), at one moment."""

    at_s: float
    live_s: dict[int, float]
    reaped_s: dict[int, float]


def sample_trees(roots: list[int]) -> CpuSample:
    live: dict[int, float] = {}
    reaped: dict[int, float] = {}
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = _stat_fields(pid)
                live[pid] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
                if pid == root:
                    reaped[pid] = (int(fields[13]) + int(fields[14])) / _TICKS_PER_S
    return CpuSample(time.monotonic(), live, reaped)


def cpu_between(before: CpuSample, after: CpuSample) -> float:
    """CPU seconds the trees used between two samples. A process that started in between counts
    from zero; one that ended and was reaped by a root counts through the root's cutime; one
    that ended unreaped (killed, its parent gone) counts up to the first sample only."""
    live = sum(cpu - before.live_s.get(pid, 0.0) for pid, cpu in after.live_s.items())
    reaped = sum(cpu - before.reaped_s.get(pid, 0.0) for pid, cpu in after.reaped_s.items())
    return max(0.0, live + reaped)


def client_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


# --- execution records ----------------------------------------------------------------------


def record_execution(directory: str, tag: str, seq: int, submitted_at_s: float) -> None:
    """Called by a task handler when it starts: one line per execution."""
    started_at_s = time.time()
    files: dict[str, int] | None = getattr(_record_files, "fds", None)
    if files is None:
        files = _record_files.fds = {}
    fd = files.get(tag)
    if fd is None:
        path = f"{directory}/{tag}.{os.getpid()}.{threading.get_ident()}"
        fd = files[tag] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"%d %.6f %.6f\n" % (seq, submitted_at_s, started_at_s))


def _record_paths(directory: str, tag: str) -> list[Path]:
    return [p for p in Path(directory).glob(f"{tag}.*") if p.is_file()]


class RecordCounter:
    """Counts the executions of `tag` recorded so far, reading only what was appended since the
    last call (a file's lines are only ever appended)."""

    def __init__(self, directory: str, tag: str) -> None:
        self.directory, self.tag = directory, tag
        self._offsets: dict[Path, int] = {}
        self.count = 0

    def update(self) -> int:
        for path in _record_paths(self.directory, self.tag):
            with contextlib.suppress(OSError), path.open("rb") as file:
                file.seek(self._offsets.get(path, 0))
                data = file.read()
                # Count whole lines only: a write may be seen before its newline is.
                whole = data.rfind(b"\n") + 1
                self._offsets[path] = self._offsets.get(path, 0) + whole
                self.count += data.count(b"\n", 0, whole)
        return self.count


@dataclass(frozen=True)
class Execution:
    seq: int
    submitted_at_s: float
    started_at_s: float


def read_records(directory: str, tag: str) -> list[Execution]:
    found: list[Execution] = []
    for path in _record_paths(directory, tag):
        for line in path.read_bytes().splitlines():
            seq, submitted, started = line.split()
            found.append(Execution(int(seq), float(submitted), float(started)))
    return found


def wait_records(directory: str, tag: str, count: int, timeout_s: float) -> float | None:
    """Poll (every 10 ms, bounded by `timeout_s`) until `count` executions of `tag` are recorded;
    the wall-clock time they were seen, or None on timeout."""
    counter = RecordCounter(directory, tag)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if counter.update() >= count:
            return time.time()
        time.sleep(0.01)
    return None


def accounting(executions: list[Execution], submitted: int) -> dict[str, int]:
    """Lost = submitted seqs never executed; reruns = executions beyond the first of a seq."""
    seen: dict[int, int] = {}
    for execution in executions:
        seen[execution.seq] = seen.get(execution.seq, 0) + 1
    return {
        "submitted": submitted,
        "executions": len(executions),
        "executed_once_or_more": sum(1 for s in seen if 0 <= s < submitted),
        "lost": sum(1 for s in range(submitted) if s not in seen),
        "duplicated": sum(n - 1 for n in seen.values()),
        "foreign": sum(1 for s in seen if not 0 <= s < submitted),
    }


# --- statistics -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank on the sorted values; q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary_ms(values_s: list[float]) -> dict[str, float | int | None]:
    ms = [v * 1000 for v in values_s]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    return {
        "n": len(ms),
        "p50": None if p50 is None else round(p50, 2),
        "p99": None if p99 is None else round(p99, 2),
        "max": round(max(ms), 2) if ms else None,
    }


def submit_to_start_s(executions: list[Execution]) -> list[float]:
    """Of each task's first execution: start minus submit (same clock, same machine)."""
    first: dict[int, Execution] = {}
    for execution in executions:
        known = first.get(execution.seq)
        if known is None or execution.started_at_s < known.started_at_s:
            first[execution.seq] = execution
    return [e.started_at_s - e.submitted_at_s for e in first.values()]

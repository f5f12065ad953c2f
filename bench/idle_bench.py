"""What an idle `raftq up` costs: CPU time and wakeups of the supervisor and each child.

Starts `raftq up` (3 metadata nodes, a backend cluster of 3, one frontend, the supervisor) on
free loopback ports in a temporary directory, waits until it is ready (`client.env` written),
lets it settle, then reads utime+stime (/proc/<pid>/stat) and the context switches of every
thread (/proc/<pid>/task/*/status) of the supervisor and all its descendants at the start and
the end of a window. Prints, per process and in total, the cores used (CPU seconds per second)
and the wakeups per second (voluntary context switches). Target (issue 16): the whole idle
deployment uses at most 2 % of one core. Nothing is sent to it: this is the cost of doing
nothing. Everything is stopped at the end (SIGTERM, then SIGKILL after a bound).

Run: python -m bench.idle_bench [--settle 10] [--window 30] [-- extra `raftq up` flags]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.machine_info import describe
from tests.integration.up_process import free_base_port

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    wakeups: int


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            # Fields after the command name, which may contain spaces: state ppid ...
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the children run in their own sessions)."""
    tree, pending = [pid], [pid]
    while pending:
        children = _children_of(pending.pop())
        tree.extend(children)
        pending.extend(children)
    return tree


def sample(pid: int) -> Sample | None:
    """CPU seconds used so far (user + system, all threads) and voluntary context switches of
    all its threads, or None once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime
        wakeups = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        wakeups += int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return Sample(cpu_s, wakeups)


def _names(data_dir: Path, supervisor: int) -> dict[int, str]:
    names = {supervisor: "supervisor"}
    with contextlib.suppress(OSError, ValueError):
        for name, child in json.loads((data_dir / "up.json").read_text()).items():
            if child.get("pid") is not None:
                names[int(child["pid"])] = name
    return names


def _wait_ready(up: subprocess.Popen[bytes], data_dir: Path) -> float:
    started = time.monotonic()
    while not (data_dir / "client.env").exists():
        if up.poll() is not None:
            raise RuntimeError(f"raftq up exited with {up.returncode} before it was ready")
        if time.monotonic() - started > READY_TIMEOUT_S:
            raise RuntimeError(f"raftq up was not ready within {READY_TIMEOUT_S:g} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _stop(up: subprocess.Popen[bytes], tree: list[int]) -> None:
    """SIGTERM to the supervisor (it stops its children); whatever is left after the bound is
    killed by pid, children included, since they run in sessions of their own."""
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    for pid in tree[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def measure(settle_s: float, window_s: float, extra: list[str]) -> float:
    """Runs one deployment and prints its idle cost; returns the total cores used."""
    with tempfile.TemporaryDirectory(prefix="raftq-idle-") as tmp:
        data_dir = Path(tmp) / "data"
        argv = [sys.executable, "-m", "raftq.client.cli", "up", "--data-dir", str(data_dir)]
        argv += ["--base-port", str(free_base_port(14)), *extra]
        log_path = Path(tmp) / "up.log"
        with log_path.open("wb") as log:
            up = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        tree = [up.pid]
        try:
            ready_s = _wait_ready(up, data_dir)
            print(f"ready in {ready_s:.1f} s; settling {settle_s:g} s, measuring {window_s:g} s")
            time.sleep(settle_s)
            tree = descendants(up.pid)
            before = {pid: sample(pid) for pid in tree}
            time.sleep(window_s)
            after = {pid: sample(pid) for pid in tree}
            names = _names(data_dir, up.pid)
            return _report(tree, names, before, after, window_s)
        except RuntimeError:
            print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            _stop(up, tree)


def _report(
    tree: list[int],
    names: dict[int, str],
    before: dict[int, Sample | None],
    after: dict[int, Sample | None],
    window_s: float,
) -> float:
    total_cores = 0.0
    total_wakeups = 0.0
    print(f"{'process':<12} {'pid':>7} {'cores':>7} {'wakeups/s':>10}")
    for pid in tree:
        first, last = before.get(pid), after.get(pid)
        name = names.get(pid, "?")
        if first is None or last is None:
            print(f"{name:<12} {pid:>7} {'gone':>7}")
            continue
        cores = (last.cpu_s - first.cpu_s) / window_s
        wakeups = (last.wakeups - first.wakeups) / window_s
        total_cores += cores
        total_wakeups += wakeups
        print(f"{name:<12} {pid:>7} {cores:>7.2%} {wakeups:>10.0f}")
    print(
        f"{'total':<12} {'':>7} {total_cores:>7.2%} {total_wakeups:>10.0f}   "
        f"(target <= 2 % of one core; {len(tree)} processes, {window_s:g} s window)"
    )
    return total_cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after ready")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("extra", nargs="*", help="more `raftq up` flags (after --)")
    args = parser.parse_args()
    print(describe())
    measure(args.settle, args.window, args.extra)


if __name__ == "__main__":
    main()

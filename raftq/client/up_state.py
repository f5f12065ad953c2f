"""What `raftq up` leaves in its data directory to say whose cluster runs there, and the
commands that read it: `raftq status` and `raftq down`.

`up.lock` is held (flock) by the one supervisor running on a data directory, for its whole
life: the lock, not a pid that may have been reused, says whether a supervisor runs. `up.pid`
holds that supervisor's pid (written once it holds the lock, removed when it stops), and
`up.json` each child's pid, restarts and log (raftq/client/supervisor.py). A node whose
supervisor is gone (a raftq from before nodes died with their supervisor, or one killed in the
instant between fork and exec) is an orphan: found by its command line, which names the data
directory, and stopped by `raftq down`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

LOCK_FILE: Final = "up.lock"
PID_FILE: Final = "up.pid"
STATE_FILE: Final = "up.json"
DOWN_TIMEOUT_S: Final = 30.0


class PortInUse(Exception):
    """A port `raftq up` needs is held by another program."""


def check_ports(host: str, ports: dict[int, str]) -> None:
    """Raise PortInUse naming the first of `ports` (port: what uses it) that cannot be bound
    on `host`. SO_REUSEADDR as the nodes themselves bind: a port in TIME_WAIT is free."""
    for port, role in sorted(ports.items()):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                raise PortInUse(
                    f"port {port} on {host} ({role}) is in use by another program; "
                    "stop it, or start on other ports with another --data-dir and --base-port"
                ) from None


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[bool]:
    """Hold `up.lock` (yields False, holding nothing, when another supervisor holds it) and,
    while held, `up.pid`."""
    with (data_dir / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        (data_dir / PID_FILE).write_text(f"{os.getpid()}\n")
        try:
            yield True
        finally:
            (data_dir / PID_FILE).unlink(missing_ok=True)


def running_supervisor(data_dir: Path) -> int | None:
    """The pid of the supervisor running on `data_dir`, None when none runs."""
    lock_path = data_dir / LOCK_FILE
    if not lock_path.exists():
        return None
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(lock, fcntl.LOCK_UN)
            return None
    try:
        return int((data_dir / PID_FILE).read_text())
    except (OSError, ValueError):  # a raftq from before up.pid, or one just starting
        return _lock_holder(lock_path)


def _lock_holder(lock_path: Path) -> int | None:
    """The pid holding a flock on `lock_path`, from /proc/locks (matched by inode)."""
    inode = lock_path.stat().st_ino
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return int(fields[4])
    return None


def orphans(data_dir: Path) -> list[int]:
    """Processes other than a running supervisor's children that run a raftq node on
    `data_dir` (their command line names a directory under it)."""
    marker = str(data_dir) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if "raftq.client.cli" in words and any(word.startswith(marker) for word in words):
            found.append(int(entry.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    """Running: a zombie (exited, its parent has not yet waited for it) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _stop(pids: list[int], timeout_s: float) -> list[int]:
    """SIGTERM to each, then wait; returns the ones still alive at the deadline."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = [pid for pid in pids if _alive(pid)]
        if not left:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def add_state_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in (
        ("status", "show whether `raftq up` runs on a data directory, and its nodes"),
        ("down", "stop the `raftq up` running on a data directory (and any node it left)"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--data-dir",
            type=Path,
            default=Path("raftq-data"),
            help="the data directory `raftq up` was given (default: %(default)s)",
        )
        if name == "down":
            command.add_argument(
                "--timeout",
                type=float,
                default=DOWN_TIMEOUT_S,
                help="seconds to wait for everything to stop (default: %(default)s)",
            )


def run_status(args: argparse.Namespace) -> int:
    """Exit status 0 when a supervisor runs on the data directory, 3 otherwise."""
    data_dir: Path = args.data_dir.resolve()
    supervisor = running_supervisor(data_dir)
    if supervisor is None:
        print(f"raftq up is not running on {data_dir}")
    else:
        print(f"raftq up is running on {data_dir} (supervisor pid {supervisor})")
        try:
            state = json.loads((data_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            state = {}
        for name, child in sorted(state.items()):
            pid = child.get("pid")
            shown = f"pid {pid}" if pid is not None and _alive(pid) else "not running"
            print(f"  {name:<10} {shown:<14} restarts {child.get('restarts', 0):<3} {child['log']}")
    left = [] if supervisor is not None else orphans(data_dir)
    if left:
        print(f"  nodes without a supervisor: {left} (`raftq down` stops them)")
    return 0 if supervisor is not None else 3


def run_down(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    supervisor = running_supervisor(data_dir)
    # the supervisor stops its children before it exits (and they die with it anyway)
    if supervisor is not None and _stop([supervisor], args.timeout):
        print(f"raftq down: supervisor {supervisor} did not stop", file=sys.stderr)
        return 1
    left = orphans(data_dir)
    if left and _stop(left, args.timeout):
        print(f"raftq down: processes {left} did not stop", file=sys.stderr)
        return 1
    if supervisor is None and not left:
        print(f"raftq down: nothing runs on {data_dir}")
    else:
        stopped = [f"supervisor {supervisor}"] if supervisor is not None else []
        stopped += [f"{len(left)} orphaned node(s)"] if left else []
        print(f"raftq down: stopped {' and '.join(stopped)} on {data_dir}")
    return 0

"""The two primitives of durable files, shared by the nodes (raft/durable_files.py) and by
`raftq admin backup` (client/backup_files.py), which must not import the server's packages.

Rules: a file's bytes are fsynced before the rename that publishes it, and a rename or a new
name lives in its directory, which is fsynced after it.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

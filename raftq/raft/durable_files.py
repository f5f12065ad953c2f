"""Small, durable file operations.

Rules: a file that must survive power loss is written to a temporary name, fsynced, renamed over
the final name, and then its directory is fsynced (a rename lives in the directory). Every file
here carries a checksum, so a torn or corrupt file is detected on read, never served.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from raftq.common.errors import CorruptState
from raftq.common.file_sync import fsync_directory, write_all

__all__ = ["fsync_directory", "read_checked", "write_all", "write_checked", "write_durably"]

_CHECKED = struct.Struct(">4sII")  # magic, crc32 of the body, body length


def write_durably(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` so that after a crash it holds either the old or the new bytes.
    `fsync=False` keeps the steps but skips the syncs (only to show what breaks without them)."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if fsync:
        fsync_directory(path.parent)


def write_checked(path: Path, magic: bytes, body: bytes, *, fsync: bool = True) -> None:
    header = _CHECKED.pack(magic, zlib.crc32(body), len(body))
    write_durably(path, header + body, fsync=fsync)


def read_checked(path: Path, magic: bytes) -> bytes | None:
    """The body written by `write_checked`, None if the file does not exist; CorruptState if it
    is not intact."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < _CHECKED.size:
        raise CorruptState(f"{path} is truncated")
    found_magic, crc, length = _CHECKED.unpack_from(raw)
    body = raw[_CHECKED.size :]
    if found_magic != magic or length != len(body) or zlib.crc32(body) != crc:
        raise CorruptState(f"{path} fails its checksum")
    return body

"""One file holding a directory (a RocksDB checkpoint) plus Raft's bookkeeping, with checksums.

pysyncobj transmits a snapshot as one file, so the checkpoint directory is archived into it:

    magic "RQSNAP01" | u32 header length | header (msgpack) | u32 crc32(header) | file bytes...

The header lists Raft's data (the last two applied entries, the members, and the members'
records: node id, zone, API address, absent from archives written before membership changes)
and every file with its size and crc32. `read_archive` verifies all of it while extracting;
nothing is installed from an archive that fails, and the file is fsynced before
`write_archive` returns.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgpack

from raftq.common.errors import CorruptState
from raftq.raft.durable_files import fsync_directory, write_all

_MAGIC = b"RQSNAP01"
_U32 = struct.Struct(">I")
_CHUNK = 1 << 20

RaftEntry = tuple[bytes, int, int]


@dataclass(frozen=True)
class SnapshotMeta:
    last_entry: RaftEntry
    previous_entry: RaftEntry
    members: tuple[str, ...]
    # (node id, zone, Raft address, API address) of each member known (raft/membership.py).
    directory: tuple[tuple[str, str, str, str], ...] = ()


def write_archive(path: Path, meta: SnapshotMeta, directory: Path) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    listing = []
    for file in files:
        crc = 0
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                crc = zlib.crc32(chunk, crc)
        listing.append((str(file.relative_to(directory)), file.stat().st_size, crc))
    header = msgpack.packb(
        {
            "raft": [list(meta.last_entry), list(meta.previous_entry)],
            "members": list(meta.members),
            "directory": [list(record) for record in meta.directory],
            "files": listing,
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, _MAGIC + _U32.pack(len(header)) + header + _U32.pack(zlib.crc32(header)))
        for file in files:
            with file.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    write_all(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_archive(path: Path, into: Path) -> SnapshotMeta:
    """Verify the archive and extract its files into the (new) directory `into`, fsynced."""
    with path.open("rb") as handle:
        if handle.read(len(_MAGIC)) != _MAGIC:
            raise CorruptState(f"{path} is not a raftq snapshot")
        (length,) = _U32.unpack(_read_exactly(handle, _U32.size, path))
        header_bytes = _read_exactly(handle, length, path)
        (crc,) = _U32.unpack(_read_exactly(handle, _U32.size, path))
        if zlib.crc32(header_bytes) != crc:
            raise CorruptState(f"{path}: snapshot header fails its checksum")
        try:
            header = msgpack.unpackb(header_bytes)
            last, previous = (tuple(entry) for entry in header["raft"])
            members = tuple(header["members"])
            directory = tuple(_record(record) for record in header.get("directory", ()))
            listing = [(_name(name), int(size), int(crc)) for name, size, crc in header["files"]]
        except (ValueError, TypeError, KeyError) as error:
            raise CorruptState(f"{path}: snapshot header does not decode: {error}") from None
        into.mkdir(parents=True)
        for name, size, expected_crc in listing:
            target = into / name
            if not name or not target.resolve().is_relative_to(into.resolve()):
                raise CorruptState(f"{path}: snapshot names a file outside its directory")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_verified(handle, target, size, expected_crc, path)
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                raise CorruptState(
                    f"{path}: snapshot names {name!r} twice or as a directory"
                ) from None
        if handle.read(1):
            raise CorruptState(f"{path}: trailing bytes after the snapshot's files")
    fsync_directory(into)
    return SnapshotMeta(
        last_entry=last, previous_entry=previous, members=members, directory=directory
    )


def _record(value: object) -> tuple[str, str, str, str]:
    if not isinstance(value, list) or len(value) != 4:
        raise TypeError("a member record is a list of four strings")
    node_id, zone, raft_address, api_address = (_name(part) for part in value)
    return node_id, zone, raft_address, api_address


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a file name must be text, not {type(value).__name__}")
    return value


def _copy_verified(
    handle: BinaryIO, target: Path, size: int, expected_crc: int, path: Path
) -> None:
    crc = 0
    remaining = size
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while remaining:
            chunk = _read_exactly(handle, min(remaining, _CHUNK), path)
            crc = zlib.crc32(chunk, crc)
            write_all(fd, chunk)
            remaining -= len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    if crc != expected_crc:
        raise CorruptState(f"{path}: {target.name} fails its checksum")


def _read_exactly(handle: BinaryIO, size: int, path: Path) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise CorruptState(f"{path} is truncated")
    return data

"""The on-disk form of a backup (docs/backup.md), and the checks a restore makes before it
changes anything.

    DIR/manifest.json              format, format_version, cluster_id, applied_index, created_at,
                                   scope, the queues, and the SHA-256 of every other file
    DIR/catalogue.json             the queues' catalogue records (attributes, tags, wrapped data
                                   keys: never a master key)
    DIR/queues/<queue_id>.records  "RQBKREC1", then (u32 length, key, u32 length, value) per
                                   record: the queue's portable records (backend/keys.py)

Disk rules: a backup is written into a temporary sibling directory, every file fsynced as it is
closed and every directory after its last entry, then renamed to its name in one step and its
parent fsynced; the manifest is written last. A directory without a manifest is never a backup,
and one that is half-written never has the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from raftq.common.errors import InvalidParameter
from raftq.common.file_sync import fsync_directory

FORMAT: Final = "raftq-backup"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
CATALOGUE: Final = "catalogue.json"
_RECORDS_MAGIC: Final = b"RQBKREC1"
_U32: Final = struct.Struct(">I")
_READ_CHUNK: Final = 1 << 20


def refused(message: str) -> InvalidParameter:
    """A backup or a target directory that cannot be used; nothing was changed."""
    return InvalidParameter(message, field="backup")


def records_file(queue_id: str) -> str:
    return f"queues/{queue_id}.records"


def check_target(target: Path) -> None:
    """`--to` must not exist yet, or be an empty directory."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise refused(f"--to {target} is not an empty directory: a backup goes to a new one")
    if not target.parent.is_dir():
        raise refused(f"--to {target}: its parent directory {target.parent} does not exist")


class RecordsWriter:
    """One queue's records file, hashed as it is written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = path.open("wb")
        self._hash = hashlib.sha256()
        self.records = 0
        self._write(_RECORDS_MAGIC)

    def add(self, key: bytes, value: bytes) -> None:
        self._write(_U32.pack(len(key)) + key + _U32.pack(len(value)) + value)
        self.records += 1

    def close(self) -> str:
        """Fsyncs the file; its SHA-256 (hex)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._hash.hexdigest()

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)


def read_records(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The records of a file `verify` passed (a short read is still refused)."""
    with path.open("rb") as handle:
        if handle.read(len(_RECORDS_MAGIC)) != _RECORDS_MAGIC:
            raise refused(f"{path.name} is not a records file")
        while header := handle.read(_U32.size):
            key = _exactly(handle, _length(header, path), path)
            value = _exactly(handle, _length(handle.read(_U32.size), path), path)
            yield key, value


def _length(header: bytes, path: Path) -> int:
    if len(header) != _U32.size:
        raise refused(f"{path.name} is truncated")
    length: int = _U32.unpack(header)[0]
    return length


def _exactly(handle: BinaryIO, length: int, path: Path) -> bytes:
    data = handle.read(length)
    if len(data) != length:
        raise refused(f"{path.name} is truncated")
    return data


@dataclass
class BackupWriter:
    """Writes a backup into a temporary sibling of `target`, then renames it into place."""

    target: Path
    checksums: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_target(self.target)
        self.work = self.target.with_name(f".{self.target.name}.partial-{secrets.token_hex(4)}")
        self.work.mkdir()

    def records(self, queue_id: str) -> RecordsWriter:
        return RecordsWriter(self.work / records_file(queue_id))

    def closed(self, name: str, sha256: str) -> None:
        self.checksums[name] = sha256

    def write_json(self, name: str, value: Any) -> None:
        data = json.dumps(value, indent=2, sort_keys=True).encode()
        path = self.work / name
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if name != MANIFEST:
            self.checksums[name] = hashlib.sha256(data).hexdigest()

    def commit(self, manifest: dict[str, Any]) -> None:
        """The manifest (with every file's checksum) last, then the rename."""
        self.write_json(MANIFEST, {**manifest, "files": dict(sorted(self.checksums.items()))})
        if (self.work / "queues").is_dir():
            fsync_directory(self.work / "queues")
        fsync_directory(self.work)
        if self.target.exists():
            self.target.rmdir()  # empty (check_target): replaced by the backup
        os.rename(self.work, self.target)
        fsync_directory(self.target.parent)

    def abandon(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def verify(directory: Path) -> dict[str, Any]:
    """The manifest of the backup in `directory`, once its format is known and every file is
    there, none is extra, and each matches its SHA-256. Refused (nothing changed) otherwise."""
    if not directory.is_dir():
        raise refused(f"backup directory {directory} does not exist")
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise refused(f"{directory} holds no {MANIFEST}: it is not a backup") from None
    except ValueError as error:
        raise refused(f"{directory / MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise refused(f"{directory / MANIFEST} is not a raftq backup manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise refused(
            f"{directory / MANIFEST}: format_version {version!r} is unknown "
            f"(this raftq reads version {FORMAT_VERSION})"
        )
    listed: dict[str, str] = manifest.get("files") or {}
    present = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()} - {
        MANIFEST
    }
    for missing in sorted(set(listed) - present):
        raise refused(f"file {missing} of the backup is missing from {directory}")
    for extra in sorted(present - set(listed)):
        raise refused(f"file {extra} in {directory} is not in the backup's manifest")
    for name, expected in sorted(listed.items()):
        found = _sha256(directory / name)
        if found != expected:
            raise refused(
                f"file {name} fails its SHA-256 checksum (the manifest says {expected}, "
                f"the file hashes to {found}): the backup is damaged"
            )
    return dict(manifest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

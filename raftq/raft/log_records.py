"""The Raft log file's records: their format, where each one is, and reading them back checked.

    magic "RAFTQLG1" | record | record | ...
    record = u32 payload length | u32 crc32(index, term, payload) | u64 index | u64 term | payload

Nothing here writes. Every payload read back is checked against its record's checksum, length,
index and term (`read_payload`); a record that fails is `CorruptState`, never served. Opening
reads the file through a read-only map, so a log of many gigabytes is verified without being
held in memory (`scan`).
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from array import array
from pathlib import Path

from raftq.common.errors import CorruptState

LOG_MAGIC = b"RAFTQLG1"
RECORD = struct.Struct(">IIQQ")  # payload length, crc32(index, term, payload), index, term


def checksum(payload: bytes, index: int, term: int) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack(">QQ", index, term)))


def record(payload: bytes, index: int, term: int) -> bytes:
    return RECORD.pack(len(payload), checksum(payload, index, term), index, term) + payload


class RecordTable:
    """Index, term, record offset and payload length of consecutive log entries: 32 bytes an
    entry, whatever its payload, which stays on disk."""

    __slots__ = ("indices", "lengths", "offsets", "terms")

    def __init__(self) -> None:
        self.indices = array("Q")
        self.terms = array("Q")
        self.offsets = array("Q")
        self.lengths = array("Q")

    def __len__(self) -> int:
        return len(self.indices)

    def append(self, index: int, term: int, offset: int, length: int) -> None:
        self.indices.append(index)
        self.terms.append(term)
        self.offsets.append(offset)
        self.lengths.append(length)

    def end_offset(self) -> int:
        """Where the last record ends (meaningless when empty)."""
        return self.offsets[-1] + RECORD.size + self.lengths[-1]

    def split_off(self, position: int) -> RecordTable:
        """Remove the records from `position` on and return them."""
        tail = RecordTable()
        for column in self.__slots__:
            mine: array[int] = getattr(self, column)
            setattr(tail, column, mine[position:])
            del mine[position:]
        return tail

    def prepend(self, head: RecordTable) -> None:
        for column in self.__slots__:
            setattr(self, column, getattr(head, column) + getattr(self, column))

    def pop_first(self) -> tuple[int, int, int, int]:
        first = (self.indices[0], self.terms[0], self.offsets[0], self.lengths[0])
        for column in self.__slots__:
            del getattr(self, column)[0]
        return first

    def drop_before(self, position: int, offset_shift: int) -> None:
        """Forget the records before `position` and move every offset down by `offset_shift`
        (after the file was rewritten without them)."""
        for column in self.__slots__:
            del getattr(self, column)[:position]
        self.offsets = array("Q", (offset - offset_shift for offset in self.offsets))


def read_payload(fd: int, path: Path, table: RecordTable, position: int) -> bytes:
    """The payload of the entry at `position`, read from the file and checked."""
    index, term = table.indices[position], table.terms[position]
    offset, length = table.offsets[position], table.lengths[position]
    raw = os.pread(fd, RECORD.size + length, offset)
    if len(raw) != RECORD.size + length:
        raise CorruptState(f"{path}: the record of entry {index} at offset {offset} is cut short")
    found_length, crc, found_index, found_term = RECORD.unpack_from(raw)
    payload = raw[RECORD.size :]
    if (found_length, found_index, found_term) != (length, index, term) or checksum(
        payload, index, term
    ) != crc:
        raise CorruptState(f"{path}: the record of entry {index} at offset {offset} is corrupt")
    return payload


def scan(path: Path) -> tuple[RecordTable, int]:
    """Verify every record of the log at `path`: the table of its intact records and where they
    end. A torn tail (a last record cut short or garbled, nothing intact after it) ends the
    scan; anything else that fails is `CorruptState`."""
    size = path.stat().st_size
    if size < len(LOG_MAGIC):
        raise CorruptState(f"{path} is not a raftq log")
    table = RecordTable()
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        if raw[: len(LOG_MAGIC)] != LOG_MAGIC:
            raise CorruptState(f"{path} is not a raftq log")
        offset = len(LOG_MAGIC)
        while offset < size:
            end = _intact_record_end(raw, offset)
            if end is None:
                _refuse_unless_torn_tail(path, raw, offset)
                break
            length, _, index, term = RECORD.unpack_from(raw, offset)
            if table and index != table.indices[-1] + 1:
                raise CorruptState(f"{path}: index {index} breaks the sequence")
            table.append(index, term, offset, length)
            offset = end
    return table, offset


def _intact_record_end(raw: mmap.mmap, offset: int) -> int | None:
    if offset + RECORD.size > len(raw):
        return None
    length, crc, index, term = RECORD.unpack_from(raw, offset)
    end = offset + RECORD.size + length
    if end > len(raw):
        return None
    return end if checksum(raw[offset + RECORD.size : end], index, term) == crc else None


def _refuse_unless_torn_tail(path: Path, raw: mmap.mmap, offset: int) -> None:
    """A crash mid-write leaves a cut-short or garbled last record and nothing intact after it.
    An intact record anywhere after a bad one means the bad one was damaged at rest."""
    for start in range(offset + 1, len(raw) - RECORD.size + 1):
        if _intact_record_end(raw, start) is not None:
            raise CorruptState(f"{path} is corrupt at offset {offset}")

"""Checked files and snapshot archives: what round-trips, and that damage is detected, never
served or installed."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from raftq.common.errors import CorruptState
from raftq.raft.durable_files import read_checked, write_checked
from raftq.raft.snapshot_archive import SnapshotMeta, read_archive, write_archive

MAGIC = b"TEST"
CHECKED_HEADER_BYTES = 12  # magic 4, crc32 u32, body length u32
ARCHIVE_MAGIC = b"RQSNAP01"

META = SnapshotMeta(
    last_entry=(b"last-command", 42, 3),
    previous_entry=(b"previous-command", 41, 3),
    members=("10.0.0.2:4321", "10.0.0.3:4321"),
)


def flip_bit(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def files_under(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


# --- checked files -----------------------------------------------------------------------------


def test_a_checked_file_reads_back_what_was_written_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    # Given a checked file written twice
    path = tmp_path / "meta"
    write_checked(path, MAGIC, b"first")
    write_checked(path, MAGIC, b"second body")
    # When it is read
    # Then the last body comes back, and no temporary file is left behind
    assert read_checked(path, MAGIC) == b"second body"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta"]


def test_an_empty_body_round_trips(tmp_path: Path) -> None:
    write_checked(tmp_path / "meta", MAGIC, b"")
    assert read_checked(tmp_path / "meta", MAGIC) == b""


def test_a_missing_checked_file_reads_as_none(tmp_path: Path) -> None:
    assert read_checked(tmp_path / "absent", MAGIC) is None


def cut_to_part_of_the_header(path: Path) -> None:
    os.truncate(path, CHECKED_HEADER_BYTES - 1)


def cut_the_body_short(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 1)


def append_a_byte(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00")


def flip_a_bit_of_the_checked_magic(path: Path) -> None:
    flip_bit(path, 0)


def flip_a_bit_of_the_checksum(path: Path) -> None:
    flip_bit(path, 5)


def flip_a_bit_of_the_length(path: Path) -> None:
    flip_bit(path, 11)


def flip_a_bit_of_the_body(path: Path) -> None:
    flip_bit(path, CHECKED_HEADER_BYTES + 3)


@pytest.mark.parametrize(
    "damage",
    [
        cut_to_part_of_the_header,
        cut_the_body_short,
        append_a_byte,
        flip_a_bit_of_the_checked_magic,
        flip_a_bit_of_the_checksum,
        flip_a_bit_of_the_length,
        flip_a_bit_of_the_body,
    ],
)
def test_a_damaged_checked_file_is_corrupt_state(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    # Given a checked file that was then damaged
    path = tmp_path / "meta"
    write_checked(path, MAGIC, b"a body worth keeping")
    damage(path)
    # When it is read, then it is refused
    with pytest.raises(CorruptState):
        read_checked(path, MAGIC)


def test_a_checked_file_read_with_another_magic_is_corrupt_state(tmp_path: Path) -> None:
    write_checked(tmp_path / "meta", MAGIC, b"body")
    with pytest.raises(CorruptState):
        read_checked(tmp_path / "meta", b"OTHR")


# --- snapshot archives -------------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A directory shaped like a RocksDB checkpoint, with nesting and an empty file."""
    directory = tmp_path / "checkpoint"
    (directory / "sub" / "deeper").mkdir(parents=True)
    (directory / "CURRENT").write_bytes(b"MANIFEST-000001\n")
    (directory / "000007.sst").write_bytes(bytes(range(256)) * 4000)  # > 1 MiB: several chunks
    (directory / "sub" / "empty").write_bytes(b"")
    (directory / "sub" / "deeper" / "OPTIONS").write_bytes(b"options")
    return directory


@pytest.fixture
def archive(tmp_path: Path, checkpoint: Path) -> Path:
    path = tmp_path / "snapshot"
    write_archive(path, META, checkpoint)
    return path


def header_length(archive: Path) -> int:
    return int.from_bytes(archive.read_bytes()[8:12], "big")


def first_file_body_offset(archive: Path) -> int:
    return len(ARCHIVE_MAGIC) + 4 + header_length(archive) + 4


def test_a_directory_round_trips_through_an_archive(
    tmp_path: Path, checkpoint: Path, archive: Path
) -> None:
    # Given an archive of a nested directory
    into = tmp_path / "extracted"
    # When it is read into a new directory
    meta = read_archive(archive, into)
    # Then Raft's data and every file come back exactly
    assert meta == META
    assert files_under(into) == files_under(checkpoint)


def test_an_archive_of_an_empty_directory_round_trips(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_archive(tmp_path / "snapshot", META, tmp_path / "empty")
    assert read_archive(tmp_path / "snapshot", tmp_path / "into") == META
    assert files_under(tmp_path / "into") == {}


def flip_a_bit_of_a_file_body(archive: Path) -> None:
    flip_bit(archive, first_file_body_offset(archive) + 100)


def flip_a_bit_of_the_last_file_body(archive: Path) -> None:
    flip_bit(archive, archive.stat().st_size - 1)


def flip_a_bit_of_the_header(archive: Path) -> None:
    flip_bit(archive, len(ARCHIVE_MAGIC) + 4 + 10)


def flip_a_bit_of_the_header_length(archive: Path) -> None:
    flip_bit(archive, len(ARCHIVE_MAGIC) + 3)


def flip_a_bit_of_the_header_checksum(archive: Path) -> None:
    flip_bit(archive, first_file_body_offset(archive) - 1)


def flip_a_bit_of_the_archive_magic(archive: Path) -> None:
    flip_bit(archive, 0)


def truncate_inside_the_header(archive: Path) -> None:
    os.truncate(archive, len(ARCHIVE_MAGIC) + 4 + 5)


def truncate_inside_a_file(archive: Path) -> None:
    os.truncate(archive, first_file_body_offset(archive) + 1000)


def truncate_the_last_byte(archive: Path) -> None:
    os.truncate(archive, archive.stat().st_size - 1)


def append_trailing_bytes(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes() + b"extra")


@pytest.mark.parametrize(
    "damage",
    [
        flip_a_bit_of_a_file_body,
        flip_a_bit_of_the_last_file_body,
        flip_a_bit_of_the_header,
        flip_a_bit_of_the_header_length,
        flip_a_bit_of_the_header_checksum,
        flip_a_bit_of_the_archive_magic,
        truncate_inside_the_header,
        truncate_inside_a_file,
        truncate_the_last_byte,
        append_trailing_bytes,
    ],
)
def test_a_damaged_archive_is_corrupt_state(
    tmp_path: Path, archive: Path, damage: Callable[[Path], None]
) -> None:
    # Given an archive that was damaged in transit or at rest
    damage(archive)
    # When it is read, then it is refused
    with pytest.raises(CorruptState):
        read_archive(archive, tmp_path / "extracted")


def crafted_archive(path: Path, files: list[tuple[str, bytes]], *, header: object = None) -> None:
    """An archive built by hand, with a valid header checksum, listing `files`."""
    if header is None:
        header = {
            "raft": [list(META.last_entry), list(META.previous_entry)],
            "members": list(META.members),
            "files": [[name, len(body), zlib.crc32(body)] for name, body in files],
        }
    header_bytes = msgpack.packb(header)
    path.write_bytes(
        ARCHIVE_MAGIC
        + struct.pack(">I", len(header_bytes))
        + header_bytes
        + struct.pack(">I", zlib.crc32(header_bytes))
        + b"".join(body for _, body in files)
    )


def test_a_hand_crafted_archive_in_the_expected_format_is_read(tmp_path: Path) -> None:
    # Given an archive built by hand to the documented format (checks the crafting helper)
    crafted_archive(tmp_path / "snapshot", [("a", b"one"), ("dir/b", b"two")])
    # When it is read, then it extracts as written
    assert read_archive(tmp_path / "snapshot", tmp_path / "into") == META
    assert files_under(tmp_path / "into") == {"a": b"one", "dir/b": b"two"}


@pytest.mark.parametrize(
    "escaping_name",
    ["../x", "sub/../../x", "ok/../../../x", "{outside}/x"],
    ids=["parent", "nested-parent", "deeper-parent", "absolute"],
)
def test_an_archive_naming_a_file_outside_its_directory_installs_nothing_outside(
    tmp_path: Path, escaping_name: str
) -> None:
    # Given a hand-crafted archive, checksums valid, whose first file escapes the directory
    outside = tmp_path / "work"
    into = outside / "into"
    outside.mkdir()
    name = escaping_name.format(outside=outside)
    crafted_archive(tmp_path / "snapshot", [(name, b"evil")])
    # When it is read
    with pytest.raises(CorruptState):
        read_archive(tmp_path / "snapshot", into)
    # Then nothing was written outside `into`
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "snapshot"]
    assert not (outside / "x").exists()
    assert list(outside.iterdir()) in ([], [into])


def test_an_escaping_name_after_good_files_still_installs_nothing_outside(tmp_path: Path) -> None:
    # Given an archive whose third file escapes the directory
    into = tmp_path / "work" / "into"
    crafted_archive(tmp_path / "snapshot", [("a", b"1"), ("b", b"2"), ("../x", b"evil")])
    # When it is read, then it is refused and no file exists next to `into`
    with pytest.raises(CorruptState):
        read_archive(tmp_path / "snapshot", into)
    assert not (tmp_path / "work" / "x").exists()


@pytest.mark.parametrize(
    "header",
    [
        {"raft": [], "members": [], "files": []},
        {"members": [], "files": []},
        {"raft": [[b"c", 2, 1], [b"b", 1, 1]], "members": [], "files": [["a"]]},
        {"raft": [[b"c", 2, 1], [b"b", 1, 1]], "members": [], "files": [["a", "big", 0]]},
        [1, 2, 3],
        7,
    ],
    ids=["no-entries", "no-raft", "short-file-row", "size-not-a-number", "a-list", "a-number"],
)
def test_an_archive_whose_header_does_not_decode_is_corrupt_state(
    tmp_path: Path, header: object
) -> None:
    # Given an archive whose header has a valid checksum but the wrong shape
    crafted_archive(tmp_path / "snapshot", [], header=header)
    # When it is read, then it is refused
    with pytest.raises(CorruptState):
        read_archive(tmp_path / "snapshot", tmp_path / "into")


@pytest.mark.parametrize(
    "files",
    [
        [("", b"x")],
        [(".", b"x")],
        [("same", b"1"), ("same", b"2")],
        [("dir", b"1"), ("dir/file", b"2")],
    ],
    ids=["empty name", "dot", "twice", "file then directory"],
)
def test_an_archive_naming_a_file_badly_is_corrupt_state(
    tmp_path: Path, files: list[tuple[str, bytes]]
) -> None:
    crafted = tmp_path / "crafted"
    crafted_archive(crafted, files)
    with pytest.raises(CorruptState):
        read_archive(crafted, tmp_path / "into")

"""The backup directory (client/backup_files.py): written under a temporary name and renamed into
place, every file checked by SHA-256, and each way a backup or a target can be wrong refused
with a message that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raftq.client.backup_files import (
    CATALOGUE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupWriter,
    check_target,
    read_records,
    records_file,
    verify,
)
from raftq.common.errors import InvalidParameter

RECORDS = [(b"M\x00\x00\x00\x00\x00\x00\x00\x01", b"meta"), (b"B" + bytes(8), b"\x00" * 70_000)]


def write_backup(target: Path) -> None:
    writer = BackupWriter(target)
    records = writer.records("q-1")
    for key, value in RECORDS:
        records.add(key, value)
    writer.closed(records_file("q-1"), records.close())
    writer.write_json(CATALOGUE, {"queues": []})
    writer.commit({"format": FORMAT, "format_version": FORMAT_VERSION, "queues": []})


def test_a_backup_reads_back_what_was_written_and_leaves_no_temporary_directory(
    tmp_path: Path,
) -> None:
    write_backup(tmp_path / "b")
    manifest = verify(tmp_path / "b")
    assert set(manifest["files"]) == {CATALOGUE, records_file("q-1")}
    assert list(read_records(tmp_path / "b" / records_file("q-1"))) == RECORDS
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_an_empty_target_directory_takes_the_backup(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    write_backup(tmp_path / "b")
    verify(tmp_path / "b")


def test_a_target_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine").write_text("x")
    with pytest.raises(InvalidParameter, match="is not an empty directory"):
        check_target(tmp_path / "b")
    with pytest.raises(InvalidParameter, match="parent directory"):
        check_target(tmp_path / "missing" / "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["mine"]


def test_a_flipped_byte_fails_the_checksum(tmp_path: Path) -> None:
    write_backup(tmp_path / "b")
    path = tmp_path / "b" / records_file("q-1")
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidParameter, match=r"queues/q-1.records fails its SHA-256"):
        verify(tmp_path / "b")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    write_backup(tmp_path / "b")
    (tmp_path / "b" / CATALOGUE).unlink()
    with pytest.raises(InvalidParameter, match=r"catalogue.json of the backup is missing"):
        verify(tmp_path / "b")


def test_an_extra_file_is_refused(tmp_path: Path) -> None:
    write_backup(tmp_path / "b")
    (tmp_path / "b" / "queues" / "q-2.records").write_bytes(b"RQBKREC1")
    with pytest.raises(InvalidParameter, match=r"queues/q-2.records .* is not in the backup"):
        verify(tmp_path / "b")


def test_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    write_backup(tmp_path / "b")
    manifest_path = tmp_path / "b" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(InvalidParameter, match="format_version 99 is unknown"):
        verify(tmp_path / "b")


def test_a_directory_that_is_missing_or_not_a_backup_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="does not exist"):
        verify(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidParameter, match=r"holds no manifest\.json"):
        verify(tmp_path / "plain")


def test_a_truncated_records_file_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "r.records"
    path.write_bytes(b"RQBKREC1" + (10).to_bytes(4, "big") + b"short")
    with pytest.raises(InvalidParameter, match="truncated"):
        list(read_records(path))

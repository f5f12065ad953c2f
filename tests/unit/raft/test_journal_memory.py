"""DurableJournal keeps payloads of the newest entries only, and reads the others back from its
file, checked: what it holds in memory, and that what it reads back is right after a reopen, a
truncation and a compaction, and refused when damaged."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from raftq.common.errors import CorruptState
from raftq.raft.journal import LOG_NAME, DurableJournal, Entry, JournalOptions

LOG_MAGIC_BYTES = 8
RECORD_HEADER_BYTES = 24
PAYLOAD_BYTES = 1_000
CACHE_BYTES = 3 * PAYLOAD_BYTES  # room for three payloads


def big_entry(index: int, term: int = 1, tag: bytes = b"") -> Entry:
    head = b"%d-%d-%s:" % (index, term, tag)
    return (head + bytes([index % 251]) * (PAYLOAD_BYTES - len(head)), index, term)


def small_cache_journal(directory: Path) -> DurableJournal:
    return DurableJournal(directory, JournalOptions(cache_bytes=CACHE_BYTES))


def add_all(journal: DurableJournal, entries: list[Entry]) -> None:
    for entry in entries:
        journal.add(*entry)


def contents(journal: DurableJournal) -> list[Entry]:
    return [journal[i] for i in range(len(journal))]


def record_offset(position: int) -> int:
    return LOG_MAGIC_BYTES + position * (RECORD_HEADER_BYTES + PAYLOAD_BYTES)


def test_payloads_beyond_the_cache_are_read_back_from_the_file(tmp_path: Path) -> None:
    # Given a journal with room for three payloads, and twenty entries added and synced
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 21)]
    add_all(journal, entries)
    journal.sync()
    # Then it holds three payloads, and every entry reads back as it was added
    assert journal.cached_payload_bytes == CACHE_BYTES
    assert contents(journal) == entries
    assert journal[-1] == entries[-1]
    journal._destroy()


def test_entries_added_but_not_yet_written_are_read_back_from_the_file(tmp_path: Path) -> None:
    # Given entries added but never synced, most of them already out of the cache
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 11)]
    add_all(journal, entries)
    # Then the oldest reads back (it is written, not synced, to be read) and nothing is synced
    assert journal[0] == entries[0]
    assert journal.last_synced_index == 0
    assert contents(journal) == entries
    journal._destroy()


def test_a_slice_reads_entries_only_when_asked_and_slicing_it_gives_a_list(
    tmp_path: Path,
) -> None:
    # Given fifty entries, as pysyncobj sees them when it slices from a lagging follower's index
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 51)]
    add_all(journal, entries)
    journal.sync()
    view = journal[10:]
    # Then the view has the entries of a list slice, and its slices are lists (sent in messages)
    assert len(view) == 40
    assert view[0] == entries[10] and view[-1] == entries[-1]
    assert view[:3] == entries[10:13]
    assert isinstance(view[:3], list)
    assert list(view) == entries[10:]
    assert list(journal[60:]) == []
    assert journal.headers[5] == (None, 6, 1)
    journal._destroy()


def test_a_view_taken_before_a_compaction_refuses_to_serve(tmp_path: Path) -> None:
    journal = small_cache_journal(tmp_path)
    add_all(journal, [big_entry(i) for i in range(1, 11)])
    view = journal[2:]
    journal.deleteEntriesTo(5)
    with pytest.raises(RuntimeError):
        view[0]
    journal._destroy()


def test_payloads_read_back_after_reopen(tmp_path: Path) -> None:
    # Given twenty synced entries in a closed journal
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 21)]
    add_all(journal, entries)
    journal._destroy()
    # When it is opened again
    journal = small_cache_journal(tmp_path)
    # Then it caches only the newest payloads, and reads every entry back
    assert journal.cached_payload_bytes <= CACHE_BYTES
    assert contents(journal) == entries
    journal._destroy()


def test_payloads_read_back_after_a_truncation_and_a_different_suffix(tmp_path: Path) -> None:
    # Given twenty synced entries, cut from the eleventh and replaced by entries of a new term
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 21)]
    add_all(journal, entries)
    journal.sync()
    journal.deleteEntriesFrom(10)
    replacement = [big_entry(i, term=2, tag=b"new") for i in range(11, 16)]
    add_all(journal, replacement)
    journal.sync()
    # Then the log is the kept prefix and the new entries, also after a reopen
    assert contents(journal) == entries[:10] + replacement
    journal._destroy()
    assert contents(small_cache_journal(tmp_path)) == entries[:10] + replacement


def test_payloads_read_back_after_re_adding_a_detached_suffix(tmp_path: Path) -> None:
    # Given a spurious truncation whose entries come back the same (read from disk to compare)
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 21)]
    add_all(journal, entries)
    journal.sync()
    size = (tmp_path / LOG_NAME).stat().st_size
    journal.deleteEntriesFrom(5)
    add_all(journal, entries[5:])
    journal.sync()
    # Then nothing was rewritten and every entry reads back
    assert (tmp_path / LOG_NAME).stat().st_size == size
    assert contents(journal) == entries
    journal._destroy()


def test_payloads_read_back_after_compaction_and_reopen(tmp_path: Path) -> None:
    # Given thirty entries, the first twenty compacted away, and five more added
    journal = small_cache_journal(tmp_path)
    entries = [big_entry(i) for i in range(1, 36)]
    add_all(journal, entries[:30])
    journal.sync()
    journal.deleteEntriesTo(20)
    add_all(journal, entries[30:])
    # Then the kept and new entries read back, before and after a reopen
    assert contents(journal) == entries[20:]
    journal._destroy()
    journal = small_cache_journal(tmp_path)
    assert contents(journal) == entries[20:]
    journal._destroy()


def test_a_record_damaged_after_opening_is_refused_when_read(tmp_path: Path) -> None:
    # Given twenty synced entries, of which only the newest are in memory
    journal = small_cache_journal(tmp_path)
    add_all(journal, [big_entry(i) for i in range(1, 21)])
    journal.sync()
    # When a byte of the second entry's payload rots on disk
    with (tmp_path / LOG_NAME).open("r+b") as log:
        log.seek(record_offset(1) + RECORD_HEADER_BYTES + 100)
        byte = log.read(1)
        log.seek(-1, 1)
        log.write(bytes([byte[0] ^ 0xFF]))
    # Then reading it is CorruptState, and an intact entry still reads
    with pytest.raises(CorruptState, match="entry 2"):
        journal[1]
    assert journal[0] == big_entry(1)
    journal._destroy()


def test_a_record_whose_header_was_damaged_after_opening_is_refused_when_read(
    tmp_path: Path,
) -> None:
    journal = small_cache_journal(tmp_path)
    add_all(journal, [big_entry(i) for i in range(1, 21)])
    journal.sync()
    with (tmp_path / LOG_NAME).open("r+b") as log:
        log.seek(record_offset(3) + 12)  # the index field
        log.write(b"\x00\x00\x00\x00\x00\x00\x00\x63")
    with pytest.raises(CorruptState, match="entry 4"):
        journal[3]
    journal._destroy()


def test_memory_held_by_the_journal_stays_bounded_while_the_log_grows(tmp_path: Path) -> None:
    # Given a journal with a 64 KiB cache
    journal = DurableJournal(tmp_path, JournalOptions(cache_bytes=64 << 10))
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        # When 20 MiB of 64 KiB entries are added and synced, the caller keeping none of them
        for index in range(1, 321):
            journal.add(bytes([index % 256]) * (64 << 10), index, 1)
            if index % 10 == 0:
                journal.sync()
        journal.sync()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the journal holds about its cache (one entry's payload), not the 20 MiB
    assert (tmp_path / LOG_NAME).stat().st_size > 20 << 20
    assert after - before < 1 << 20
    assert journal[0] == (bytes([1]) * (64 << 10), 1, 1)
    journal._destroy()

"""DurableJournal on real files: what survives a close, a crash (SIGKILL) and a power cut, and
what a damaged log does on open.

Vocabulary used below:
- close: `_destroy()`, what pysyncobj calls on an orderly shutdown (syncs, stores meta).
- crash: the process dies (SIGKILL). Its file descriptor closes; entries only buffered by `add`
  are gone, bytes already written stay in the page cache and are read back on reopen.
- power cut: after a crash, the log keeps only what was fsynced (`log.synced` under
  `witness_syncs`), as `tests/integration/cluster.py` does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftq.common.errors import CorruptState
from raftq.raft.durable_files import write_checked
from raftq.raft.journal import (
    LOG_NAME,
    META_NAME,
    SYNCED_NAME,
    DurableJournal,
    Entry,
    JournalOptions,
)

LOG_MAGIC_BYTES = 8  # "RAFTQLG1" at the start of the log
RECORD_HEADER_BYTES = 24  # payload length u32, crc32 u32, index u64, term u64


def entry(index: int, term: int = 1, tag: bytes = b"") -> Entry:
    return (b"command-%d-%s" % (index, tag), index, term)


def contents(journal: DurableJournal) -> list[Entry]:
    return [journal[i] for i in range(len(journal))]


def reopen(journal: DurableJournal, directory: Path, **options: bool) -> DurableJournal:
    journal._destroy()
    return DurableJournal(directory, JournalOptions(**options))


def crash(journal: DurableJournal) -> None:
    """What SIGKILL leaves: the descriptor closes, nothing more is written or synced."""
    os.close(journal._fd)


def cut_power(directory: Path) -> None:
    """After a crash: keep of the log only what was fsynced, as the witness file says."""
    synced = int((directory / SYNCED_NAME).read_text())
    os.truncate(directory / LOG_NAME, synced)


def add_synced(journal: DurableJournal, directory: Path, entries: list[Entry]) -> list[int]:
    """Add and sync `entries` one by one; return the file offset of each one's record."""
    offsets = []
    for command, index, term in entries:
        offsets.append((directory / LOG_NAME).stat().st_size)
        journal.add(command, index, term)
        journal.sync()
    return offsets


def flip_byte(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


# --- what survives -------------------------------------------------------------------------------


def test_entries_term_vote_and_commit_index_survive_close_and_reopen(tmp_path: Path) -> None:
    # Given a journal with entries, a term with a vote and a commit index
    journal = DurableJournal(tmp_path)
    for command, index, term in [entry(1), entry(2), entry(3, term=2)]:
        journal.add(command, index, term)
    journal.setCurrentTerm(2, "10.0.0.2:4321")
    journal.setRaftCommitIndex(2)
    # When it is closed and opened again
    journal = reopen(journal, tmp_path)
    # Then everything is as it was
    assert contents(journal) == [entry(1), entry(2), entry(3, term=2)]
    assert journal.getCurrentTerm() == 2
    assert journal.getVotedForNodeId() == "10.0.0.2:4321"
    assert journal.getRaftCommitIndex() == 2
    journal._destroy()


def test_a_new_journal_starts_empty_at_term_zero_without_a_vote(tmp_path: Path) -> None:
    # Given an empty directory
    # When a journal is opened on it
    journal = DurableJournal(tmp_path / "raft")
    # Then it holds nothing and has voted for no one
    assert len(journal) == 0
    assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (0, None)
    assert journal.last_synced_index == 0
    journal._destroy()


def test_term_and_vote_are_durable_as_soon_as_they_are_set(tmp_path: Path) -> None:
    # Given a journal that records a vote
    journal = DurableJournal(tmp_path)
    journal.setCurrentTerm(7, "10.0.0.3:4321")
    # When the process crashes right after
    crash(journal)
    # Then the vote is there on restart (it may already have been sent)
    journal = DurableJournal(tmp_path)
    assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (7, "10.0.0.3:4321")
    journal._destroy()


def test_commit_index_is_stored_by_the_one_second_timer(tmp_path: Path) -> None:
    # Given a journal whose commit index moved and whose timer fired
    journal = DurableJournal(tmp_path)
    journal.setRaftCommitIndex(9)
    journal.onOneSecondTimer()
    # When the process crashes
    crash(journal)
    # Then the commit index is back on restart
    journal = DurableJournal(tmp_path)
    assert journal.getRaftCommitIndex() == 9
    journal._destroy()


def fsyncs_timed(journal: DurableJournal) -> float:
    samples = [s for metric in journal.fsync_seconds.collect() for s in metric.samples]
    return float(next(s.value for s in samples if s.name == "raftq_raft_fsync_seconds_count"))


def test_sync_writes_all_added_entries_with_one_fdatasync(tmp_path: Path) -> None:
    # Given three entries added after the last sync
    journal = DurableJournal(tmp_path)
    fsyncs_before = journal.fsync_count
    for command, index, term in [entry(1), entry(2), entry(3)]:
        journal.add(command, index, term)
    assert journal.last_synced_index == 0
    # When sync is called
    journal.sync()
    # Then one fdatasync made all three durable, and its time is in the metrics' histogram
    assert journal.fsync_count == fsyncs_before + 1
    assert journal.last_synced_index == 3
    assert fsyncs_timed(journal) == journal.fsync_count
    # And a second sync with nothing new does no fdatasync
    journal.sync()
    assert journal.fsync_count == fsyncs_before + 1
    assert fsyncs_timed(journal) == journal.fsync_count
    # And a crash now loses none of them
    crash(journal)
    journal = DurableJournal(tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3)]
    journal._destroy()


def test_entries_added_but_never_synced_are_gone_after_a_crash(tmp_path: Path) -> None:
    # Given two synced entries and one only added
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(1), entry(2)])
    journal.add(*entry(3))
    # When the process crashes before the next sync
    crash(journal)
    # Then the unsynced entry is gone (it was never acknowledged: sync precedes every send)
    journal = DurableJournal(tmp_path)
    assert contents(journal) == [entry(1), entry(2)]
    journal._destroy()


def test_power_cut_keeps_exactly_the_synced_entries(tmp_path: Path) -> None:
    # Given three synced entries, and two more added and written to the file without a sync
    # (a spurious truncation writes buffered entries out before detaching them)
    journal = DurableJournal(tmp_path, JournalOptions(witness_syncs=True))
    add_synced(journal, tmp_path, [entry(1), entry(2), entry(3)])
    synced_size = (tmp_path / LOG_NAME).stat().st_size
    journal.add(*entry(4))
    journal.add(*entry(5))
    journal.deleteEntriesFrom(4)
    assert (tmp_path / LOG_NAME).stat().st_size > synced_size
    # When the process crashes and power is cut
    crash(journal)
    # (the witness is rewritten in place at a fixed width, so a kill never leaves it empty)
    assert (tmp_path / SYNCED_NAME).read_text() == f"{synced_size:020d}"
    cut_power(tmp_path)
    # Then the synced entries are all there and the unsynced ones are all gone
    journal = DurableJournal(tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3)]
    journal._destroy()


def test_reopen_after_a_crash_makes_the_entries_it_found_durable(tmp_path: Path) -> None:
    # Regression: a reopened journal counted every entry in the file as synced, without an
    # fsync, so entries a crashed run had only written (page cache) could be acknowledged after
    # the restart and then lost to a power cut.
    # Given a crash that left entries 4 and 5 written but not synced
    journal = DurableJournal(tmp_path, JournalOptions(witness_syncs=True))
    add_synced(journal, tmp_path, [entry(1), entry(2), entry(3)])
    journal.add(*entry(4))
    journal.add(*entry(5))
    journal.deleteEntriesFrom(4)
    crash(journal)
    # When the node restarts and reports what it holds as on disk
    journal = DurableJournal(tmp_path, JournalOptions(witness_syncs=True))
    assert contents(journal) == [entry(1), entry(2), entry(3), entry(4), entry(5)]
    assert journal.last_synced_index == 5
    # Then a power cut now loses none of it
    crash(journal)
    cut_power(tmp_path)
    journal = DurableJournal(tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3), entry(4), entry(5)]
    journal._destroy()


# --- damaged logs --------------------------------------------------------------------------------


def three_synced_entries(directory: Path) -> list[int]:
    journal = DurableJournal(directory)
    offsets = add_synced(journal, directory, [entry(1), entry(2), entry(3)])
    journal._destroy()
    return offsets


@pytest.mark.parametrize(
    "cut_into_last_record",
    [1, RECORD_HEADER_BYTES - 1, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + 3],
    ids=["in-length", "end-of-header", "no-payload", "mid-payload"],
)
def test_a_last_record_cut_short_is_dropped_and_the_journal_keeps_serving(
    tmp_path: Path, cut_into_last_record: int
) -> None:
    # Given a log whose last record was torn by a crash mid-write
    offsets = three_synced_entries(tmp_path)
    os.truncate(tmp_path / LOG_NAME, offsets[2] + cut_into_last_record)
    # When it is opened
    journal = DurableJournal(tmp_path)
    # Then just the torn record is gone, from memory and from disk
    assert contents(journal) == [entry(1), entry(2)]
    assert (tmp_path / LOG_NAME).stat().st_size == offsets[2]
    # And the journal keeps serving: a new entry 3 is appended and survives a reopen
    journal.add(*entry(3, term=2))
    journal = reopen(journal, tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3, term=2)]
    journal._destroy()


@pytest.mark.parametrize(
    "byte_in_last_record",
    [0, 5, 9, 20, RECORD_HEADER_BYTES + 2],
    ids=["length", "crc", "index", "term", "payload"],
)
def test_a_garbled_last_record_is_dropped(tmp_path: Path, byte_in_last_record: int) -> None:
    # Given a log whose last record has a garbled byte and nothing after it
    offsets = three_synced_entries(tmp_path)
    flip_byte(tmp_path / LOG_NAME, offsets[2] + byte_in_last_record)
    # When it is opened
    journal = DurableJournal(tmp_path)
    # Then only the garbled record is dropped
    assert contents(journal) == [entry(1), entry(2)]
    journal.add(*entry(3, term=3))
    journal = reopen(journal, tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3, term=3)]
    journal._destroy()


@pytest.mark.parametrize(
    "byte_in_first_record",
    [5, 9, 20, RECORD_HEADER_BYTES + 2],
    ids=["crc", "index", "term", "payload"],
)
def test_a_damaged_record_followed_by_intact_records_is_corruption(
    tmp_path: Path, byte_in_first_record: int
) -> None:
    # Given a log whose first record is damaged while later records are intact
    offsets = three_synced_entries(tmp_path)
    flip_byte(tmp_path / LOG_NAME, offsets[0] + byte_in_first_record)
    # When it is opened
    # Then the journal refuses: this was damage at rest, not a torn write
    with pytest.raises(CorruptState):
        DurableJournal(tmp_path)


@pytest.mark.parametrize("new_length", [0, 9, 11, 1 << 20, 0xFFFFFFFF])
def test_a_corrupt_length_field_in_the_middle_is_corruption_not_a_torn_tail(
    tmp_path: Path, new_length: int
) -> None:
    # Given a log whose middle record claims a wrong payload length (the real one is 10)
    offsets = three_synced_entries(tmp_path)
    raw = bytearray((tmp_path / LOG_NAME).read_bytes())
    assert int.from_bytes(raw[offsets[1] : offsets[1] + 4], "big") == len(entry(2)[0])
    raw[offsets[1] : offsets[1] + 4] = new_length.to_bytes(4, "big")
    (tmp_path / LOG_NAME).write_bytes(bytes(raw))
    # When it is opened
    # Then it is refused rather than silently cut after entry 1
    with pytest.raises(CorruptState):
        DurableJournal(tmp_path)
    assert (tmp_path / LOG_NAME).read_bytes() == bytes(raw)


def test_a_log_with_the_wrong_magic_is_refused(tmp_path: Path) -> None:
    # Given a log file that is not a raftq log
    three_synced_entries(tmp_path)
    flip_byte(tmp_path / LOG_NAME, 0)
    # When it is opened, then it is refused
    with pytest.raises(CorruptState):
        DurableJournal(tmp_path)


def test_a_log_whose_indexes_skip_is_refused(tmp_path: Path) -> None:
    # Given a log holding entries 1 and 3, each intact on its own
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(1), entry(3)])
    journal._destroy()
    # When it is opened, then it is refused
    with pytest.raises(CorruptState):
        DurableJournal(tmp_path)


def corrupt_meta_by_flipping_a_byte(path: Path) -> None:
    flip_byte(path, path.stat().st_size - 1)


def corrupt_meta_by_truncating(path: Path) -> None:
    os.truncate(path, 6)


def meta_with_valid_checksum_but_not_msgpack(path: Path) -> None:
    write_checked(path, b"RQMT", b"\xc1")  # 0xc1 is never used by msgpack


def meta_with_valid_checksum_but_two_fields(path: Path) -> None:
    write_checked(path, b"RQMT", b"\x92\x01\xc0")  # msgpack [1, None]


def meta_with_valid_checksum_but_a_number(path: Path) -> None:
    write_checked(path, b"RQMT", b"\x05")


@pytest.mark.parametrize(
    "damage",
    [
        corrupt_meta_by_flipping_a_byte,
        corrupt_meta_by_truncating,
        meta_with_valid_checksum_but_not_msgpack,
        meta_with_valid_checksum_but_two_fields,
        meta_with_valid_checksum_but_a_number,
    ],
)
def test_a_corrupt_meta_file_is_refused(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    # Given a journal whose term/vote file was damaged
    journal = DurableJournal(tmp_path)
    journal.setCurrentTerm(3, "10.0.0.2:4321")
    journal._destroy()
    damage(tmp_path / META_NAME)
    # When it is opened, then it is refused (a lost vote could let this node vote twice)
    with pytest.raises(CorruptState):
        DurableJournal(tmp_path)


# --- truncation and compaction -------------------------------------------------------------------


def test_re_adding_the_same_entries_after_a_spurious_truncation_leaves_the_file_untouched(
    tmp_path: Path,
) -> None:
    # Given five synced entries
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(i) for i in range(1, 6)])
    before = (tmp_path / LOG_NAME).read_bytes()
    fsyncs_before = journal.fsync_count
    # When pysyncobj truncates after entry 2 and appends the very same entries again
    journal.deleteEntriesFrom(2)
    assert contents(journal) == [entry(1), entry(2)]
    assert (tmp_path / LOG_NAME).read_bytes() == before  # detached, still on disk
    for i in range(3, 6):
        journal.add(*entry(i))
    journal.sync()
    # Then the file did not change at all, and no fdatasync was needed
    assert (tmp_path / LOG_NAME).read_bytes() == before
    assert journal.fsync_count == fsyncs_before
    assert journal.last_synced_index == 5
    # And the entries are there after a reopen
    journal = reopen(journal, tmp_path)
    assert contents(journal) == [entry(i) for i in range(1, 6)]
    journal._destroy()


def test_a_different_entry_after_a_truncation_cuts_the_old_suffix_from_disk(
    tmp_path: Path,
) -> None:
    # Given five synced entries of term 1, truncated after entry 2
    journal = DurableJournal(tmp_path)
    offsets = add_synced(journal, tmp_path, [entry(i) for i in range(1, 6)])
    journal.deleteEntriesFrom(2)
    # When the leader sends its own entry 3, of term 2 (a real conflict)
    journal.add(*entry(3, term=2, tag=b"new"))
    # Then the old entries 3..5 are already cut from the file, before the new one is written
    assert (tmp_path / LOG_NAME).stat().st_size == offsets[2]
    # And after a sync and a crash only the new history is there
    journal.sync()
    crash(journal)
    journal = DurableJournal(tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3, term=2, tag=b"new")]
    journal._destroy()


def test_a_partly_re_added_suffix_is_cut_where_the_entries_start_to_differ(
    tmp_path: Path,
) -> None:
    # Given five synced entries, truncated after entry 1
    journal = DurableJournal(tmp_path)
    offsets = add_synced(journal, tmp_path, [entry(i) for i in range(1, 6)])
    journal.deleteEntriesFrom(1)
    # When entries 2 and 3 come back the same and entry 4 differs
    journal.add(*entry(2))
    journal.add(*entry(3))
    journal.add(*entry(4, term=2))
    journal.sync()
    # Then the file holds 1..3 as before and the new 4, nothing of the old 4 and 5
    assert (tmp_path / LOG_NAME).stat().st_size == offsets[3] + RECORD_HEADER_BYTES + len(
        entry(4, term=2)[0]
    )
    journal = reopen(journal, tmp_path)
    assert contents(journal) == [entry(1), entry(2), entry(3), entry(4, term=2)]
    journal._destroy()


def test_a_detached_suffix_never_contradicted_reappears_after_a_restart(tmp_path: Path) -> None:
    # Given five synced entries truncated after entry 3, and nothing appended since
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(i) for i in range(1, 6)])
    journal.deleteEntriesFrom(3)
    assert len(journal) == 3
    # When the node restarts
    journal = reopen(journal, tmp_path)
    # Then entries 4 and 5 are back: as if the truncation had not been received, which Raft
    # allows (no reply depended on their absence; a real conflict would have cut them)
    assert contents(journal) == [entry(i) for i in range(1, 6)]
    journal._destroy()


def test_compaction_rewrites_the_log_without_the_prefix_and_survives_reopen(
    tmp_path: Path,
) -> None:
    # Given five synced entries
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(i) for i in range(1, 6)])
    size_before = (tmp_path / LOG_NAME).stat().st_size
    # When the first three are compacted away and one more entry is added
    journal.deleteEntriesTo(3)
    journal.add(*entry(6))
    # Then the file shrank, and entries 4..6 survive a reopen
    assert (tmp_path / LOG_NAME).stat().st_size < size_before
    journal = reopen(journal, tmp_path)
    assert contents(journal) == [entry(4), entry(5), entry(6)]
    assert not (tmp_path / (LOG_NAME + ".tmp")).exists()
    journal._destroy()


def test_clear_empties_the_log_on_disk(tmp_path: Path) -> None:
    # Given three synced entries
    journal = DurableJournal(tmp_path)
    add_synced(journal, tmp_path, [entry(1), entry(2), entry(3)])
    # When the log is cleared (a snapshot was installed) and later entries follow
    journal.clear()
    journal = reopen(journal, tmp_path)
    assert len(journal) == 0
    journal.add(*entry(10, term=4))
    journal = reopen(journal, tmp_path)
    # Then only the later entries are there
    assert contents(journal) == [entry(10, term=4)]
    journal._destroy()


# --- a model of the journal ----------------------------------------------------------------------


class JournalModel(RuleBasedStateMachine):
    """Random add / deleteEntriesFrom / deleteEntriesTo / sync / reopen against a plain list.

    The rule for reopening (read from journal.py): `deleteEntriesFrom` only detaches the cut
    suffix; it stays on disk until an entry that differs from its head is added (then it is cut),
    or until a compaction or clear rewrites the file. So the model keeps two lists: `visible`
    (what the journal shows) and `detached` (cut but still on disk). A reopen always follows a
    sync (`_destroy` or an explicit one), and then the journal shows `visible + detached`.
    """

    options = JournalOptions()

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="journal-model-"))
        self.journal = DurableJournal(self.directory, self.options)
        self.visible: list[Entry] = []
        self.detached: list[Entry] = []
        self.next_index = 1
        self.term_and_vote: tuple[int, str | None] = (0, None)

    def _add(self, new: Entry) -> None:
        self.journal.add(*new)
        if self.detached and self.detached[0] == new:
            self.detached.pop(0)
        else:
            self.detached = []
        self.visible.append(new)
        self.next_index = new[1] + 1

    def _after_reopen(self) -> None:
        self.visible += self.detached
        self.detached = []
        if self.visible:
            self.next_index = self.visible[-1][1] + 1

    @rule(term=st.integers(1, 3), payload=st.binary(max_size=24))
    def add(self, term: int, payload: bytes) -> None:
        self._add((payload, self.next_index, term))

    @precondition(lambda self: bool(self.detached))
    @rule()
    def add_the_same_entry_again(self) -> None:
        self._add(self.detached[0])

    @rule(position=st.integers(0, 40))
    def delete_entries_from(self, position: int) -> None:
        position %= len(self.visible) + 2  # sometimes past the end: a no-op
        self.journal.deleteEntriesFrom(position)
        if position < len(self.visible):
            self.detached = self.visible[position:] + self.detached
            self.next_index = self.visible[position][1]
            del self.visible[position:]

    @rule(position=st.integers(0, 40))
    def delete_entries_to(self, position: int) -> None:
        position %= len(self.visible) + 2
        self.journal.deleteEntriesTo(position)
        self.visible = self.visible[position:]
        self.detached = []

    @rule()
    def clear(self) -> None:
        self.journal.clear()
        self.visible, self.detached = [], []

    @rule()
    def sync(self) -> None:
        self.journal.sync()
        assert self.journal.last_synced_index == (self.visible[-1][1] if self.visible else 0)

    @rule(term=st.integers(0, 5), vote=st.sampled_from([None, "a:1", "b:2"]))
    def set_term(self, term: int, vote: str | None) -> None:
        self.journal.setCurrentTerm(term, vote)
        self.term_and_vote = (term, vote)

    @rule()
    def close_and_reopen(self) -> None:
        self.journal._destroy()
        self.journal = DurableJournal(self.directory, self.options)
        self._after_reopen()

    @rule()
    def sync_crash_and_reopen(self) -> None:
        self.journal.sync()
        crash(self.journal)
        self.journal = DurableJournal(self.directory, self.options)
        self._after_reopen()

    @invariant()
    def journal_shows_the_model(self) -> None:
        assert contents(self.journal) == self.visible
        term_and_vote = (self.journal.getCurrentTerm(), self.journal.getVotedForNodeId())
        assert term_and_vote == self.term_and_vote

    def teardown(self) -> None:
        self.journal._destroy()
        shutil.rmtree(self.directory, ignore_errors=True)


JournalModel.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestJournalAgainstAListModel = JournalModel.TestCase


class TinyCacheJournalModel(JournalModel):
    """The same with room for one payload of at most 8 bytes: nearly every entry is read back
    from the file (raft/log_views.py)."""

    options = JournalOptions(cache_bytes=8)


TinyCacheJournalModel.TestCase.settings = JournalModel.TestCase.settings
TestTinyCacheJournalAgainstAListModel = TinyCacheJournalModel.TestCase

"""One contract, both `Store` implementations (DESIGN.md §7 contract tests): what the state
machine relies on from MemoryStore holds for RocksStore on a real RocksDB, and vice versa."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftq.backend.rocks_store import RocksStore
from raftq.backend.store import MemoryStore, Store, WriteSet
from raftq.common.settings import StoreSettings

EVERYTHING = (b"", b"\xff" * 16)


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore()
        if request.param == "memory"
        else RocksStore(StoreSettings(path=tmp_path / "db"))
    )
    yield made
    made.close()


def _put(store: Store, **values: bytes) -> None:
    store.commit(WriteSet(writes={k.encode(): v for k, v in values.items()}))


def test_missing_key_reads_as_none(store: Store) -> None:
    assert store.get(b"absent") is None


def test_committed_writes_are_read_back_and_deletes_remove(store: Store) -> None:
    _put(store, a=b"1", b=b"2")
    store.commit(WriteSet(writes={b"a": None, b"c": b"3"}))
    assert (store.get(b"a"), store.get(b"b"), store.get(b"c")) == (None, b"2", b"3")


def test_scan_is_byte_ordered_and_half_open(store: Store) -> None:
    keys = [b"\x00", b"a", b"a\x00", b"a\xff", b"b", b"\xff\xff"]
    store.commit(WriteSet(writes=dict.fromkeys(reversed(keys), b"v")))
    assert [k for k, _ in store.scan(*EVERYTHING)] == keys
    assert [k for k, _ in store.scan(b"a", b"b")] == [b"a", b"a\x00", b"a\xff"]
    assert list(store.scan(b"c", b"c")) == []
    assert list(store.scan(b"b", b"a")) == []


def test_range_deletes_apply_before_writes_of_the_same_commit(store: Store) -> None:
    _put(store, k1=b"old", k2=b"old", k3=b"old", z=b"keep")
    store.commit(WriteSet(deleted_ranges=[(b"k1", b"k3")], writes={b"k2": b"new"}))
    assert [(k, v) for k, v in store.scan(*EVERYTHING)] == [
        (b"k2", b"new"),
        (b"k3", b"old"),
        (b"z", b"keep"),
    ]


def test_values_are_raw_bytes_of_any_size(store: Store) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB, every byte value
    store.commit(WriteSet(writes={b"big": big, b"empty": b""}))
    assert store.get(b"big") == big
    assert store.get(b"empty") == b""


def test_rocks_store_keeps_its_data_across_reopen(tmp_path: Path) -> None:
    settings_ = StoreSettings(path=tmp_path / "db", sync_writes=True)
    first = RocksStore(settings_)
    first.commit(WriteSet(writes={b"k": b"v"}, deleted_ranges=[(b"x", b"y")]))
    first.close()
    second = RocksStore(settings_)
    assert second.get(b"k") == b"v"
    second.close()


_key = st.binary(min_size=0, max_size=3)
_write_sets = st.builds(
    WriteSet,
    deleted_ranges=st.lists(st.tuples(_key, _key), max_size=2),
    writes=st.dictionaries(_key, st.one_of(st.none(), st.binary(max_size=4)), max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(history=st.lists(_write_sets, max_size=8))
def test_both_stores_reach_the_same_contents_from_the_same_commits(
    history: list[WriteSet], tmp_path_factory: pytest.TempPathFactory
) -> None:
    memory = MemoryStore()
    rocks = RocksStore(StoreSettings(path=tmp_path_factory.mktemp("db") / "db"))
    try:
        for changes in history:
            memory.commit(changes)
            rocks.commit(changes)
        assert list(rocks.scan(*EVERYTHING)) == list(memory.scan(*EVERYTHING))
    finally:
        rocks.close()


def test_scan_finds_a_key_written_back_into_a_range_it_found_empty(store: Store) -> None:
    # Given a range whose front was consumed and scanned past
    _put(store, a1=b"1", a2=b"2", a3=b"3")
    store.commit(WriteSet(writes={b"a1": None, b"a2": None}))
    assert [k for k, _ in store.scan(b"a", b"b")] == [b"a3"]
    store.commit(WriteSet(writes={b"a3": None}))
    assert list(store.scan(b"a", b"b")) == []
    # When keys are written again inside it, below and between what was deleted
    _put(store, a0=b"0", a2=b"2 again")
    # Then scans from anywhere see them
    assert [k for k, _ in store.scan(b"a", b"b")] == [b"a0", b"a2"]
    assert [k for k, _ in store.scan(b"a1", b"b")] == [b"a2"]


_scans = st.tuples(_key, _key, st.integers(min_value=0, max_value=8))


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(_write_sets, _scans), max_size=16))
def test_both_stores_scan_alike_between_commits(
    steps: list[WriteSet | tuple[bytes, bytes, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Scans, some read only partly, between commits: what a scan learns about a range must
    # never hide a key a later commit writes there.
    memory = MemoryStore()
    rocks = RocksStore(StoreSettings(path=tmp_path_factory.mktemp("db") / "db"))
    try:
        for step in steps:
            if isinstance(step, WriteSet):
                memory.commit(step)
                rocks.commit(step)
            else:
                start, stop, taken = step
                expected = list(islice(memory.scan(start, stop), taken))
                assert list(islice(rocks.scan(start, stop), taken)) == expected
        assert list(rocks.scan(*EVERYTHING)) == list(memory.scan(*EVERYTHING))
    finally:
        rocks.close()

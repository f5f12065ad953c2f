"""The `Store` contract (raftq/backend/store.py), run against `MemoryStore` and against
`RocksStore` on a real RocksDB: the state machine may rely on exactly what these tests check,
whichever store it writes through."""

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

# Every key these tests write sorts below this bound.
EVERYTHING = (b"", b"\xff" * 8)


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore()
        if request.param == "memory"
        else RocksStore(StoreSettings(path=tmp_path / "db"))
    )
    yield made
    made.close()


def _put(store: Store, *keys: bytes, value: bytes = b"v") -> None:
    store.commit(WriteSet(writes=dict.fromkeys(keys, value)))


def _keys(store: Store, start: bytes = EVERYTHING[0], stop: bytes = EVERYTHING[1]) -> list[bytes]:
    return [key for key, _ in store.scan(start, stop)]


# --- point reads and writes --------------------------------------------------------------------


def test_missing_key_reads_as_none(store: Store) -> None:
    assert store.get(b"absent") is None


def test_committed_value_is_read_back(store: Store) -> None:
    store.commit(WriteSet(writes={b"k": b"value"}))
    assert store.get(b"k") == b"value"


def test_later_commit_replaces_the_value(store: Store) -> None:
    store.commit(WriteSet(writes={b"k": b"first"}))
    store.commit(WriteSet(writes={b"k": b"second"}))
    assert store.get(b"k") == b"second"


def test_empty_value_is_stored_and_differs_from_absent(store: Store) -> None:
    store.commit(WriteSet(writes={b"empty": b""}))
    assert store.get(b"empty") == b""
    assert list(store.scan(*EVERYTHING)) == [(b"empty", b"")]


def test_values_hold_every_byte_value(store: Store) -> None:
    value = bytes(range(256)) * 4
    store.commit(WriteSet(writes={b"k": value}))
    assert store.get(b"k") == value


def test_every_change_of_a_write_set_is_visible_after_commit(store: Store) -> None:
    # Given keys to overwrite, to delete and to leave alone
    _put(store, b"overwritten", b"deleted", b"untouched", value=b"old")
    # When one write set changes several of them and removes a range
    store.commit(
        WriteSet(
            deleted_ranges=[(b"r", b"s")],
            writes={b"overwritten": b"new", b"deleted": None, b"added": b"new"},
        )
    )
    # Then all of its changes are visible together
    assert list(store.scan(*EVERYTHING)) == [
        (b"added", b"new"),
        (b"overwritten", b"new"),
        (b"untouched", b"old"),
    ]


def test_point_delete_removes_the_key(store: Store) -> None:
    _put(store, b"a", b"b")
    store.commit(WriteSet(writes={b"a": None}))
    assert store.get(b"a") is None
    assert _keys(store) == [b"b"]


def test_deleting_a_missing_key_changes_nothing(store: Store) -> None:
    _put(store, b"a")
    store.commit(WriteSet(writes={b"never written": None}))
    assert list(store.scan(*EVERYTHING)) == [(b"a", b"v")]


def test_empty_write_set_changes_nothing(store: Store) -> None:
    _put(store, b"a")
    store.commit(WriteSet())
    assert list(store.scan(*EVERYTHING)) == [(b"a", b"v")]


# --- range deletions ---------------------------------------------------------------------------


def test_range_delete_includes_start_and_excludes_stop(store: Store) -> None:
    _put(store, b"a", b"b", b"b\x00", b"bz", b"c", b"c\x00")
    store.commit(WriteSet(deleted_ranges=[(b"b", b"c")]))
    assert _keys(store) == [b"a", b"c", b"c\x00"]


def test_range_delete_with_start_at_or_after_stop_deletes_nothing(store: Store) -> None:
    _put(store, b"a", b"b", b"c")
    store.commit(WriteSet(deleted_ranges=[(b"b", b"b"), (b"c", b"a")]))
    assert _keys(store) == [b"a", b"b", b"c"]


def test_range_delete_over_every_key_empties_the_store(store: Store) -> None:
    _put(store, b"\x00", b"a", b"\xff\xff")
    store.commit(WriteSet(deleted_ranges=[EVERYTHING]))
    assert list(store.scan(*EVERYTHING)) == []


def test_write_inside_a_range_deleted_in_the_same_write_set_survives(store: Store) -> None:
    # Given keys inside a range
    _put(store, b"k1", b"k2", b"k3", b"z", value=b"old")
    # When one write set deletes the range and writes one of its keys
    store.commit(WriteSet(deleted_ranges=[(b"k1", b"k3")], writes={b"k2": b"new"}))
    # Then the range deletion happened first and the write stands
    assert list(store.scan(*EVERYTHING)) == [(b"k2", b"new"), (b"k3", b"old"), (b"z", b"old")]


def test_overlapping_range_deletes_of_one_write_set_all_apply(store: Store) -> None:
    _put(store, b"a", b"b", b"c", b"d", b"e")
    store.commit(WriteSet(deleted_ranges=[(b"b", b"d"), (b"c", b"e")]))
    assert _keys(store) == [b"a", b"e"]


# --- scans -------------------------------------------------------------------------------------


def test_scan_yields_keys_in_byte_order_whatever_the_write_order(store: Store) -> None:
    ordered = [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x01",
        b"a",
        b"a\x00",
        b"a\xff",
        b"b",
        b"\xff",
        b"\xff\x00",
    ]
    store.commit(WriteSet(writes=dict.fromkeys(reversed(ordered), b"v")))
    assert _keys(store) == ordered


def test_scan_includes_start_and_excludes_stop(store: Store) -> None:
    _put(store, b"a", b"b", b"b\x00", b"b\xff", b"c")
    assert _keys(store, b"b", b"c") == [b"b", b"b\x00", b"b\xff"]
    assert _keys(store, b"b\x00", b"b\xff") == [b"b\x00"]


def test_scan_over_a_prefix_stops_before_the_next_prefix(store: Store) -> None:
    # A family scan is [prefix, prefix + 1): keys with 0xff bytes stay inside it.
    _put(store, b"p\x00", b"p\xff", b"p\xff\xff", b"q")
    assert _keys(store, b"p", b"q") == [b"p\x00", b"p\xff", b"p\xff\xff"]


def test_scan_returns_the_values_stored(store: Store) -> None:
    store.commit(WriteSet(writes={b"a": b"1", b"b": b"2"}))
    assert list(store.scan(*EVERYTHING)) == [(b"a", b"1"), (b"b", b"2")]


@pytest.mark.parametrize(
    ("start", "stop"),
    [(b"b", b"b"), (b"c", b"a"), (b"x", b"y"), (b"a\x00", b"a\x01"), (b"", b"")],
    ids=["start equals stop", "start after stop", "no key in range", "between keys", "all empty"],
)
def test_scan_of_a_range_holding_no_key_yields_nothing(
    store: Store, start: bytes, stop: bytes
) -> None:
    _put(store, b"a", b"b", b"c")
    assert list(store.scan(start, stop)) == []


def test_scan_sees_a_key_written_back_into_a_range_it_found_empty(store: Store) -> None:
    # Given a range a scan walked and found empty after its keys were deleted
    _put(store, b"a1", b"a2", b"a3")
    store.commit(WriteSet(deleted_ranges=[(b"a", b"b")]))
    assert _keys(store, b"a", b"b") == []
    # When keys are written into it again
    _put(store, b"a0", b"a2")
    # Then scans from anywhere in it see them
    assert _keys(store, b"a", b"b") == [b"a0", b"a2"]
    assert _keys(store, b"a1", b"b") == [b"a2"]


def test_scan_read_only_partly_does_not_hide_later_keys(store: Store) -> None:
    # Given a scan that stopped after its first key
    _put(store, b"a", b"c")
    assert next(iter(store.scan(*EVERYTHING))) == (b"a", b"v")
    # When a key is written between the first and the second
    _put(store, b"b")
    # Then a new scan sees every key
    assert _keys(store) == [b"a", b"b", b"c"]


# --- RocksStore only: durability ---------------------------------------------------------------


def test_rocks_store_data_survives_close_and_reopen(tmp_path: Path) -> None:
    # Given a store with writes, a point delete and a range delete committed, then closed
    store_settings = StoreSettings(path=tmp_path / "db", sync_writes=True)
    first = RocksStore(store_settings)
    _put(first, b"a", b"b", b"c", b"d")
    first.commit(WriteSet(deleted_ranges=[(b"b", b"c")], writes={b"d": None, b"e": b"new"}))
    first.close()
    # When it is opened again
    second = RocksStore(store_settings)
    try:
        # Then it holds exactly what was committed
        assert list(second.scan(*EVERYTHING)) == [(b"a", b"v"), (b"c", b"v"), (b"e", b"new")]
    finally:
        second.close()


def test_rocks_store_closes_once_however_often_close_is_called(tmp_path: Path) -> None:
    store = RocksStore(StoreSettings(path=tmp_path / "db"))
    store.close()
    store.close()


# --- properties: both stores agree with the contract's model ------------------------------------

# A small alphabet with the edge bytes, so keys collide, prefix one another and hit range bounds.
_keys_st = st.lists(st.sampled_from([b"\x00", b"\x01", b"a", b"\xfe", b"\xff"]), max_size=3).map(
    b"".join
)
_write_sets = st.builds(
    WriteSet,
    deleted_ranges=st.lists(st.tuples(_keys_st, _keys_st), max_size=2),
    writes=st.dictionaries(_keys_st, st.one_of(st.none(), st.binary(max_size=3)), max_size=5),
)


def _apply_to_model(model: dict[bytes, bytes], changes: WriteSet) -> None:
    """The contract as plain code: range deletions first, then the point writes."""
    for start, stop in changes.deleted_ranges:
        for key in [key for key in model if start <= key < stop]:
            del model[key]
    for key, value in changes.writes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


@settings(max_examples=60, deadline=None)
@given(history=st.lists(_write_sets, max_size=8))
def test_both_stores_hold_the_same_contents_after_the_same_commits(
    history: list[WriteSet], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given an empty store of each kind and the contract's model
    memory = MemoryStore()
    rocks = RocksStore(StoreSettings(path=tmp_path_factory.mktemp("db") / "db"))
    model: dict[bytes, bytes] = {}
    try:
        # When the same write sets are committed to each
        for changes in history:
            memory.commit(changes)
            rocks.commit(changes)
            _apply_to_model(model, changes)
        # Then their contents are identical, and what the contract says
        assert list(rocks.scan(*EVERYTHING)) == list(memory.scan(*EVERYTHING))
        assert list(memory.scan(*EVERYTHING)) == sorted(model.items())
    finally:
        rocks.close()


_scans = st.tuples(_keys_st, _keys_st, st.integers(min_value=0, max_value=4))


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(_write_sets, _scans), max_size=14))
def test_both_stores_scan_alike_between_commits(
    steps: list[WriteSet | tuple[bytes, bytes, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Scans, some read only partly, between commits: what RocksStore learns about empty ranges
    # from a scan must never hide a key that a later commit writes there.
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
                assert [rocks.get(key) for key, _ in expected] == [v for _, v in expected]
        assert list(rocks.scan(*EVERYTHING)) == list(memory.scan(*EVERYTHING))
    finally:
        rocks.close()

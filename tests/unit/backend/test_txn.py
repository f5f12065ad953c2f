"""`Txn`, the uncommitted layer the state machine applies through (raftq/backend/txn.py): reads
see the layer's own changes over its parent's, a child layer merged into its parent is as if its
changes had been made there, and the layer's `WriteSet` reproduces its view in a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftq.backend.store import MemoryStore, ReadView, WriteSet
from raftq.backend.txn import Txn

EVERYTHING = (b"", b"\xff" * 8)


def _store(**values: bytes) -> MemoryStore:
    store = MemoryStore()
    store.commit(WriteSet(writes={key.encode(): value for key, value in values.items()}))
    return store


def _contents(view: ReadView) -> list[tuple[bytes, bytes]]:
    return list(view.scan(*EVERYTHING))


# --- reads through the layer -------------------------------------------------------------------


def test_read_sees_own_write() -> None:
    txn = Txn(_store(k=b"parent"))
    txn.put(b"k", b"own")
    assert txn.get(b"k") == b"own"


def test_read_of_an_untouched_key_falls_through_to_the_parent() -> None:
    txn = Txn(_store(k=b"parent"))
    assert txn.get(b"k") == b"parent"
    assert txn.get(b"absent") is None


def test_delete_hides_the_parent_value() -> None:
    txn = Txn(_store(k=b"parent"))
    txn.delete(b"k")
    assert txn.get(b"k") is None
    assert _contents(txn) == []


def test_put_after_delete_wins() -> None:
    txn = Txn(_store(k=b"parent"))
    txn.delete(b"k")
    txn.put(b"k", b"again")
    assert txn.get(b"k") == b"again"


def test_range_delete_hides_parent_keys_from_start_up_to_stop() -> None:
    # Given parent keys around and inside [b, c)
    txn = Txn(_store(a=b"1", b=b"2", bz=b"3", c=b"4"))
    # When the range is deleted
    txn.delete_range(b"b", b"c")
    # Then its start is hidden, its stop is not
    assert [txn.get(key) for key in (b"a", b"b", b"bz", b"c")] == [b"1", None, None, b"4"]
    assert _contents(txn) == [(b"a", b"1"), (b"c", b"4")]


def test_range_delete_hides_earlier_own_writes() -> None:
    txn = Txn(MemoryStore())
    txn.put(b"b1", b"own")
    txn.put(b"c", b"own")
    txn.delete_range(b"b", b"c")
    assert txn.get(b"b1") is None
    assert _contents(txn) == [(b"c", b"own")]


def test_put_after_range_delete_wins() -> None:
    # Given a parent key inside a range the layer deleted
    txn = Txn(_store(b1=b"parent", b2=b"parent"))
    txn.delete_range(b"b", b"c")
    # When a key of the range is written again
    txn.put(b"b1", b"after")
    # Then that write is visible and the rest of the range stays deleted
    assert txn.get(b"b1") == b"after"
    assert _contents(txn) == [(b"b1", b"after")]


def test_range_delete_with_start_at_or_after_stop_hides_nothing() -> None:
    txn = Txn(_store(a=b"1", b=b"2"))
    txn.put(b"c", b"3")
    txn.delete_range(b"b", b"b")
    txn.delete_range(b"c", b"a")
    assert _contents(txn) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


def test_scan_merges_own_and_parent_keys_in_order_without_duplicates() -> None:
    # Given parent keys, some of which the layer overwrites, deletes, or adds between
    txn = Txn(_store(a=b"p", c=b"p", e=b"p", g=b"p"))
    txn.put(b"c", b"own")
    txn.put(b"d", b"own")
    txn.put(b"\x00", b"own")
    txn.put(b"z", b"own")
    txn.delete(b"e")
    # Then one scan yields each live key once, in byte order, with the layer's value
    assert _contents(txn) == [
        (b"\x00", b"own"),
        (b"a", b"p"),
        (b"c", b"own"),
        (b"d", b"own"),
        (b"g", b"p"),
        (b"z", b"own"),
    ]


def test_scan_is_half_open_over_own_and_parent_keys() -> None:
    txn = Txn(_store(b=b"p", c=b"p"))
    txn.put(b"b\xff", b"own")
    txn.put(b"c\x00", b"own")
    assert [key for key, _ in txn.scan(b"b", b"c")] == [b"b", b"b\xff"]


def test_first_is_the_lowest_visible_key_of_the_range() -> None:
    txn = Txn(_store(b=b"p", c=b"p"))
    txn.delete(b"b")
    txn.put(b"d", b"own")
    assert txn.first(b"a", b"z") == (b"c", b"p")
    assert txn.first(b"x", b"z") is None


class _CountingView:
    """A `ReadView` that counts the keys its scans hand out."""

    def __init__(self, inner: ReadView) -> None:
        self.inner = inner
        self.keys_read = 0

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for pair in self.inner.scan(start, stop):
            self.keys_read += 1
            yield pair


def test_a_scan_does_not_read_the_parent_inside_a_range_this_layer_deleted() -> None:
    # Given a parent holding a thousand keys in a range the layer deleted (a purge), and keys
    # either side of it
    store = MemoryStore()
    inside = {b"b%04d" % i: b"p" for i in range(1_000)}
    store.commit(WriteSet(writes={b"a": b"p", **inside, b"c": b"p"}))
    parent = _CountingView(store)
    txn = Txn(parent)
    txn.delete_range(b"b", b"c")
    txn.put(b"b0500", b"own")
    # When the layer is scanned across the deleted range
    scanned = list(txn.scan(b"a", b"d"))
    # Then it sees the keys outside the range and its own write, and read none of the parent's
    # keys inside the range
    assert scanned == [(b"a", b"p"), (b"b0500", b"own"), (b"c", b"p")]
    assert parent.keys_read == 2


def test_the_parent_is_untouched_until_the_write_set_is_committed() -> None:
    store = _store(a=b"1", b=b"2")
    txn = Txn(store)
    txn.put(b"a", b"changed")
    txn.delete(b"b")
    txn.delete_range(b"", b"\xff")
    assert store.items() == [(b"a", b"1"), (b"b", b"2")]
    assert store.commits == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda txn: txn.put(b"k", b"v"),
        lambda txn: txn.delete(b"k"),
        lambda txn: txn.delete_range(b"a", b"b"),
    ],
    ids=["put", "delete", "delete_range"],
)
def test_a_fresh_layer_is_empty_and_any_change_makes_it_not(change: Callable[[Txn], None]) -> None:
    txn = Txn(MemoryStore())
    assert txn.is_empty
    change(txn)
    assert not txn.is_empty


# --- nested layers and write sets --------------------------------------------------------------


def test_child_sees_its_parent_layer_and_the_store_beneath() -> None:
    parent = Txn(_store(a=b"store", b=b"store"))
    parent.put(b"c", b"parent")
    parent.delete(b"a")
    child = Txn(parent)
    child.put(b"d", b"child")
    assert _contents(child) == [(b"b", b"store"), (b"c", b"parent"), (b"d", b"child")]


def test_merged_child_gives_the_parent_the_state_of_doing_the_ops_there() -> None:
    # Given the same store and parent changes twice
    def parent_over_store() -> Txn:
        parent = Txn(_store(a=b"s", b1=b"s", b2=b"s", c=b"s"))
        parent.put(b"b3", b"parent")
        parent.delete(b"c")
        return parent

    via_child = parent_over_store()
    direct = parent_over_store()
    # When one parent gets changes through a merged child, the other directly
    child = Txn(via_child)
    for txn in (child, direct):
        txn.delete_range(b"b", b"c")
        txn.put(b"b2", b"again")
        txn.put(b"c", b"back")
        txn.delete(b"a")
    child.merge_into(via_child)
    # Then both parents show the same state, and commit the same state
    assert _contents(via_child) == _contents(direct)
    assert _contents(via_child) == [(b"b2", b"again"), (b"c", b"back")]
    for txn in (via_child, direct):
        assert txn.get(b"b1") is None
        assert txn.get(b"b3") is None


def test_discarded_child_leaves_the_parent_as_it_was() -> None:
    parent = Txn(_store(a=b"s"))
    parent.put(b"b", b"parent")
    child = Txn(parent)
    child.delete_range(b"", b"\xff")
    child.put(b"c", b"child")
    assert _contents(parent) == [(b"a", b"s"), (b"b", b"parent")]


def test_committed_write_set_reproduces_the_layer_view() -> None:
    # Given a layer with every kind of change over a store
    store = _store(a=b"s", b1=b"s", b2=b"s", c=b"s", d=b"s")
    txn = Txn(store)
    txn.put(b"a", b"own")
    txn.delete_range(b"b", b"c")
    txn.put(b"b2", b"after range")
    txn.delete(b"d")
    txn.put(b"e", b"own")
    view = _contents(txn)
    # When its write set is committed to the store it was layered over
    store.commit(txn.write_set())
    # Then the store shows what the layer showed
    assert store.items() == view
    assert view == [(b"a", b"own"), (b"b2", b"after range"), (b"c", b"s"), (b"e", b"own")]


# --- properties: a layer behaves like a plain dict of the same changes --------------------------

_keys = st.lists(st.sampled_from([b"\x00", b"a", b"b", b"\xff"]), min_size=1, max_size=3).map(
    b"".join
)


@dataclass(frozen=True)
class Put:
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Delete:
    key: bytes


@dataclass(frozen=True)
class DeleteRange:
    start: bytes
    stop: bytes


Op = Put | Delete | DeleteRange

_ops = st.lists(
    st.one_of(
        st.builds(Put, _keys, st.binary(max_size=2)),
        st.builds(Delete, _keys),
        st.builds(DeleteRange, _keys, _keys),
    ),
    max_size=12,
)
_prefill = st.dictionaries(_keys, st.binary(max_size=2), max_size=8)


def _apply(txn: Txn, model: dict[bytes, bytes], ops: list[Op]) -> None:
    for op in ops:
        match op:
            case Put(key, value):
                txn.put(key, value)
                model[key] = value
            case Delete(key):
                txn.delete(key)
                model.pop(key, None)
            case DeleteRange(start, stop):
                txn.delete_range(start, stop)
                for key in [key for key in model if start <= key < stop]:
                    del model[key]


def _assert_view_is(view: ReadView, model: dict[bytes, bytes], ranges: list[bytes]) -> None:
    assert list(view.scan(*EVERYTHING)) == sorted(model.items())
    for start in ranges:
        for stop in ranges:
            expected = sorted((k, v) for k, v in model.items() if start <= k < stop)
            assert list(view.scan(start, stop)) == expected
    for key in ranges:
        assert view.get(key) == model.get(key)


@settings(max_examples=200, deadline=None)
@given(prefill=_prefill, ops=_ops, probes=st.lists(_keys, max_size=4))
def test_layer_reads_like_a_dict_of_the_same_ops_and_commits_to_it(
    prefill: dict[bytes, bytes], ops: list[Op], probes: list[bytes]
) -> None:
    # Given a store holding some keys, and a dict holding the same
    store = MemoryStore()
    store.commit(WriteSet(writes=dict(prefill)))
    model = dict(prefill)
    # When the same ops are made on a layer over the store and on the dict
    txn = Txn(store)
    _apply(txn, model, ops)
    # Then the layer reads as the dict does, over any range
    ranges = [*probes, *prefill][:6]
    _assert_view_is(txn, model, ranges)
    # And committing the layer's write set leaves the store as the dict
    store.commit(txn.write_set())
    _assert_view_is(store, model, ranges)


@settings(max_examples=200, deadline=None)
@given(prefill=_prefill, parent_ops=_ops, child_ops=_ops, probes=st.lists(_keys, max_size=4))
def test_merged_child_layer_reads_like_a_dict_of_all_the_ops(
    prefill: dict[bytes, bytes], parent_ops: list[Op], child_ops: list[Op], probes: list[bytes]
) -> None:
    # Given a parent layer with some ops over a pre-filled store, and a child layer over it
    store = MemoryStore()
    store.commit(WriteSet(writes=dict(prefill)))
    model = dict(prefill)
    parent = Txn(store)
    _apply(parent, model, parent_ops)
    before_child = dict(model)
    child = Txn(parent)
    ranges = [*probes, *prefill][:6]
    # When the child makes more ops
    _apply(child, model, child_ops)
    # Then the child reads as all the ops, while the parent still reads as its own
    _assert_view_is(child, model, ranges)
    _assert_view_is(parent, before_child, ranges)
    # And once merged, the parent and then the store read as all the ops
    child.merge_into(parent)
    _assert_view_is(parent, model, ranges)
    store.commit(parent.write_set())
    _assert_view_is(store, model, ranges)

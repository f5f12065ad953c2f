"""Read index: a leader confirms it still leads without writing the log (Raft thesis §6.4).

A read served from the leader's applied state is linearizable if, after the read arrived, a
majority still accepted this leader's term: a leader of a later term needs the votes of a
majority, which meets ours in some member, and that member ignores (does not answer) any
AppendEntries of an older term once it voted. So when a majority answered AppendEntries sent
*after* the read was registered, no later leader existed at registration, and once this leader
has applied through its commit index of that moment, its state holds every write acknowledged
before the read.

Why a read index and not a leader lease: pysyncobj 0.3.17 has no read-index API either, and its
followers grant a vote to any candidate with a higher term and an up-to-date log, even a moment
after hearing from the leader. A lease ("no one else can lead before my heartbeat's send time
plus the minimum election timeout") holds only if followers refuse votes while a leader is alive
(thesis §4.2.3), which would change how pysyncobj elects, and it would also trust bounded clock
drift and no pause between checking the lease and reading. The read index needs neither: it
costs one heartbeat round (appendEntriesPeriod plus a round trip, about 20-30 ms with our
timings), no log entry and no fsync, and is answered for every read waiting on that round.

How it runs on pysyncobj, everything on the tick thread:
- The leader numbers every AppendEntries it sends (`STAMP`, increasing for the life of the
  process), in the transport.
- A follower echoes, in the `next_node_idx` answer, the term and number of the AppendEntries it
  is answering (`ECHO`). pysyncobj answers an AppendEntries only when it accepted its term.
- `ReadIndex.on_tick` registers new reads at the last number sent, the term and commit index;
  `echoed` records answers; a read is confirmed when followers that, with the leader, make a
  majority echoed a later number of the same term and the leader applied through that commit
  index. It fails when this member stops leading its current state, its term changes, or it
  was not confirmed within `timeout_s`. Old members that do not echo only make reads fail.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

STAMP = "raftq_read_stamp"  # key added to AppendEntries: the leader's number of the message
ECHO = "raftq_read_echo"  # key added to next_node_idx: (term, number) of the message answered

Settle = Callable[[bool], None]
"""Called once, on the tick thread: True when leadership was confirmed for the read."""


@dataclass(frozen=True, slots=True)
class LeaderView:
    """What the read index needs of the Raft member, read on the tick thread."""

    leads: bool  # leads and applied its own term's no-op (RaftNode.leads_current_state)
    term: int
    commit_index: int
    applied_index: int
    now_s: float  # a monotonic clock, for the timeout only
    # The other voting members of the current configuration (Raft addresses): only their
    # echoes count, and a majority of them with the leader confirms. The configuration changes
    # with membership changes (raft/member_changes.py), so it is read with every view.
    followers: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Read:
    settle: Settle
    term: int
    after_stamp: int  # confirmed by echoes of messages numbered above this
    commit_index: int
    expires_at_s: float


class ReadIndex:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._incoming: deque[Settle] = deque()  # appended from any thread
        self._reads: list[_Read] = []
        self._last_stamp = 0
        self._echoes: dict[str, tuple[int, int]] = {}  # follower -> (term, highest number)

    def request(self, settle: Settle) -> None:
        """Ask for a confirmation (any thread); `settle` is called on the tick thread."""
        self._incoming.append(settle)

    def next_stamp(self) -> int:
        """The number of an AppendEntries about to be sent (tick thread)."""
        self._last_stamp += 1
        return self._last_stamp

    def echoed(self, follower: str, term: int, stamp: int, view: LeaderView) -> None:
        """A follower answered our AppendEntries numbered `stamp` of `term` (tick thread)."""
        known_term, known_stamp = self._echoes.get(follower, (0, 0))
        if term > known_term or (term == known_term and stamp > known_stamp):
            self._echoes[follower] = (term, stamp)
        self._settle(view)

    def on_tick(self, view: LeaderView) -> bool:
        """Register new reads, fail lost ones, confirm ready ones (tick thread). True when reads
        were registered that wait for followers: the caller should send a heartbeat round now
        rather than at the next period."""
        registered = False
        while self._incoming:
            settle = self._incoming.popleft()
            if not view.leads:
                settle(False)
                continue
            read = _Read(
                settle,
                view.term,
                self._last_stamp,
                view.commit_index,
                view.now_s + self._timeout_s,
            )
            self._reads.append(read)
            registered = True
        self._settle(view)
        return registered and _followers_needed(view) > 0

    @property
    def pending(self) -> int:
        """Reads not settled yet (any thread: a snapshot of two lengths)."""
        return len(self._reads) + len(self._incoming)

    def _settle(self, view: LeaderView) -> None:
        outcomes = [(read, self._outcome(read, view)) for read in self._reads]
        self._reads = [read for read, outcome in outcomes if outcome is None]
        for read, outcome in outcomes:
            if outcome is not None:
                read.settle(outcome)

    def _outcome(self, read: _Read, view: LeaderView) -> bool | None:
        if not view.leads or view.term != read.term:
            return False
        confirming = sum(
            1
            for follower, (term, stamp) in self._echoes.items()
            if follower in view.followers and term == read.term and stamp > read.after_stamp
        )
        if confirming >= _followers_needed(view) and view.applied_index >= read.commit_index:
            return True
        if view.now_s >= read.expires_at_s:
            return False
        return None


def _followers_needed(view: LeaderView) -> int:
    """Followers that, with the leader, make a majority of the configuration."""
    return (len(view.followers) + 1) // 2

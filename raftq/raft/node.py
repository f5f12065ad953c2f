"""A Raft member: pysyncobj 0.3.17 (pinned) with the gaps of ../shared/notes/pysyncobj.md closed.

What this adapter adds, and where:
- Durable log, term and vote: `DurableJournal` replaces pysyncobj's journal (handed over through
  pysyncobj's `createJournal`, the one function it builds its journal with).
- Fsync before any message: `_FsyncBeforeSendTransport.send` syncs the journal before a message
  leaves, so every append-entries reply, vote and append-entries request depends only on what is
  on disk (see journal.py for the full rule).
- Stale leaders: `leaderFallbackTimeout` is about one election timeout (settings.RaftTimings).
- Authenticated, encrypted traffic: pysyncobj `password` from the raft secret (which only the
  group's members hold, not the cluster secret of the internal HTTP API that frontends hold too),
  with AES-GCM (raft/wire_cipher.py) in place of its Fernet; Raft binds to `self_address` only.
- One replicated entry point, `apply(payload)`, carrying versioned commands of our own format;
  the log index of the entry is passed to the machine, which stores it with its data.
- Snapshots: the machine's state (a RocksDB checkpoint) archived with checksums; installing one
  is atomic and a no-op when the machine is already past it. The checkpoint is cut on the tick
  thread and archived on a worker (raft/snapshot_builder.py), so a large store does not stall
  heartbeats. The archive is fsynced, renamed into place and its directory fsynced before
  pysyncobj hears that the snapshot is done and compacts the journal (whose rewrite fsyncs the
  same directory again) dropping the entries it replaces. Even without the file, the state is
  safe: RocksDB flushed it to disk when the checkpoint was taken.
- Log compaction also once the log file holds `compaction_min_log_bytes`
  (`_compact_large_log`), not only after pysyncobj's entry count or time: with large messages
  the count alone lets the log grow to tens of gigabytes.
- No compression of Raft messages: pysyncobj zlib-compresses (level 3) every message before it
  encrypts it. Entries carry AES-GCM ciphertext, which hardly compresses, so that cost 2-3 ms
  of CPU per 48 KiB entry and per follower, and about 100 us per heartbeat, for little.
  `_StoredZlib` (raft/pysyncobj_wiring.py, with the other patches) makes pysyncobj write
  stored (uncompressed) zlib streams instead, which every receiver, old or new, still
  decompresses.
- Pickle protocol 5 on the wire and in the log: pysyncobj pickles with protocol 2, which turns
  `bytes` into a latin-1 string, so every byte above 0x7f (half of any ciphertext) costs two,
  and a 60 KB entry took about 430 us to pickle and 320 us to unpickle instead of 2 us. Every
  Python 3 unpickler reads protocol 5, so members running the old protocol read the new one.
- Large messages leave at once: pysyncobj's connection sends what the socket takes and keeps
  the rest until its next send, so a 1 MiB entry trickled out one heartbeat at a time (and the
  leader, hearing nothing back, stepped down). `FsyncBeforeSendTransport.send` asks the poller
  to wake when the socket can take more; entries up to `MAX_ENTRY_BYTES` go as one message
  (pysyncobj's chunked path labels pieces by the wrong length and fails on most large entries).
- Threads: pysyncobj runs Raft, I/O and apply on its own tick thread. `propose` hands a payload to
  it and returns an asyncio future resolved on the caller's loop through `call_soon_threadsafe`.
- Reads without a log entry: `confirm_leadership` is a read index (raft/read_index.py), carried
  by a number the transport adds to each AppendEntries and the follower echoes in its answer.
- Membership changes, leadership hand-over, and the rules of a member that starts on an empty
  disk or joins an existing group: raft/member_changes.py, called from the hooks below
  (`_onTick`, the message handler, pysyncobj's `__doChangeCluster`).
- Rolling upgrades: each answer to an AppendEntries carries this node's command level, and the
  leader keeps what each member advertised (raft/member_levels.py); `command_level` is the level
  the group agrees on, which the leader writes entries at.

Why this module is longer than 400 lines: every override of pysyncobj's name-mangled methods
must live on this subclass. The logic behind each hook is in a module of its own (read_index,
append_entries, member_changes, member_levels, snapshot_builder); what stays here is wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from prometheus_client import Histogram
from pysyncobj import FAIL_REASON, SyncObj, replicated
from pysyncobj.monotonic import monotonic as pysyncobj_monotonic

from raftq.common.errors import CorruptState, NotLeader, RaftqError
from raftq.common.settings import Member, RaftSettings
from raftq.raft import disk_failure
from raftq.raft.append_entries import CatchUp, without_held_entries
from raftq.raft.failures import error_for
from raftq.raft.journal import LOG_NAME, DurableJournal, JournalOptions
from raftq.raft.machine import ReplicatedMachine
from raftq.raft.member_changes import Membership
from raftq.raft.member_levels import MemberLevels
from raftq.raft.membership import MemberChange, MemberDirectory
from raftq.raft.pysyncobj_wiring import SNAPSHOT_NAME, FsyncBeforeSendTransport, pysyncobj_conf
from raftq.raft.read_index import ECHO, STAMP, LeaderView, ReadIndex
from raftq.raft.role_watch import Role, RoleWatch
from raftq.raft.snapshot_archive import SnapshotMeta, read_archive
from raftq.raft.snapshot_builder import BuildingInBackground, SnapshotBuilder
from raftq.raft.wire_cipher import WireCipher

log = logging.getLogger(__name__)

# pysyncobj's `_RAFT_STATE` (its status "state"), by name.
_ROLES = {0: "follower", 1: "candidate", 2: "leader"}
_LEADER = 2


@dataclass(frozen=True, slots=True)
class AppliedEntry:
    """An entry this node applied: its log index, and when its apply began and ended (wall
    clock, ns): the leader learns an entry committed just before it applies it."""

    index: int
    started_ns: int
    ended_ns: int


class RaftNode(SyncObj):  # type: ignore[misc]
    def __init__(
        self,
        settings: RaftSettings,
        machine: ReplicatedMachine,
        members: tuple[Member, ...] = (),
        *,
        join: bool = False,
        announce_commits: bool = True,
        on_applied: Callable[[], None] = lambda: None,
    ) -> None:
        """`members`: the group's members as this node was started with (the directory of
        node ids, zones and API addresses, which membership changes then keep up to date; a
        leader hint of `NotLeader` names an API address, the only one clients can use).
        `join`: this node is new to a running group (raft/member_changes.py).
        `announce_commits`: the leader tells followers of each commit at once (for groups whose
        followers answer reads, like the metadata group) rather than with its next message.
        `on_applied` runs on the tick thread after each entry this node applies."""
        self._announce_commits = announce_commits
        self._on_applied = on_applied
        self._machine = machine
        fresh = (
            not (settings.data_dir / LOG_NAME).exists()
            and not (settings.data_dir / SNAPSHOT_NAME).exists()
        )
        self.membership = Membership(
            self,
            MemberDirectory(members),
            fresh=fresh,
            joining=join and fresh,
            hand_over_s=2 * settings.timings.election_timeout_max_s,
        )
        self._catch_up = CatchUp()
        self._settings = settings
        self._failed: str | None = None
        # The last entry this node applied, with its wall-clock times, for the tracing of a
        # proposal (`propose(on_applied=…)`): written and read only on the tick thread.
        self._last_applied = AppliedEntry(0, 0, 0)
        # Set before pysyncobj starts its tick thread, which sends and receives from then on.
        self._read_index = ReadIndex(timeout_s=settings.timings.election_timeout_min_s)
        self._answering: tuple[int, int] | None = None  # (term, stamp) of the AppendEntries
        self._role_seen = (0, 0)  # (term, pysyncobj state) at the end of the last tick
        self._levels = MemberLevels(settings.max_command_level)
        self._agreed_level = (-1, 0)  # (term, level), published by the tick thread
        secret = settings.raft_secret
        self._wire_cipher = None if secret is None else WireCipher(secret.get_secret_value())
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = DurableJournal(
            settings.data_dir,
            JournalOptions(fsync=settings.fsync, witness_syncs=settings.witness_syncs),
        )
        self._snapshots = SnapshotBuilder(
            settings.data_dir, settings.data_dir / SNAPSHOT_NAME, machine
        )
        conf = pysyncobj_conf(
            settings,
            self.journal,
            self._write_snapshot_file,
            self._read_snapshot_file,
            self._snapshots.progress,
        )
        super().__init__(
            settings.self_address,
            list(settings.peers),
            conf,
            transportClass=FsyncBeforeSendTransport,
        )
        self.addOnTickCallback(self.journal.sync)
        self.addOnTickCallback(self._compact_large_log)
        self.addOnTickCallback(self._read_index_tick)
        self._role_watch = RoleWatch(settings.self_address)
        self.addOnTickCallback(self._watch_role)
        self.addOnTickCallback(self._agree_level)

    @property
    def encryptor(self) -> WireCipher | None:
        """What pysyncobj's transport encrypts each connection with (read as it connects)."""
        return self._wire_cipher

    def _getEncryptor(self) -> WireCipher | None:  # noqa: N802 (pysyncobj's name)
        return self._wire_cipher

    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N802, N803 (pysyncobj's names)
        """pysyncobj's tick, sleeping until the next timer of this member instead of a fixed
        period: a follower connected to all its peers has nothing to do until a message comes
        or its election deadline passes, so it sleeps until that deadline (every heartbeat
        wakes it and pushes the deadline back; a candidate's votes wake it too). A leader, and
        a member missing a peer (it retries connections on ticks), keep the tick (`tick_s`)."""
        try:
            self.membership.tick()
            super()._onTick(self._sleep_bound(timeToWait))
            # Between two handlers: a term and a role that belong together (within a handler,
            # a leader that heard of a higher term has the new term for a moment while it
            # still says it leads).
            self._role_seen = (int(self._SyncObj__raftCurrentTerm), int(self._SyncObj__raftState))
        except Exception as error:
            if disk_failure.is_disk_failure(error):
                disk_failure.stop(error)
            raise

    def _sleep_bound(self, tick_s: float) -> float:
        if self._SyncObj__connectedNodes != self._SyncObj__otherNodes:
            return tick_s
        # pysyncobj's deadlines are on its own clock (CLOCK_MONOTONIC_RAW).
        now_s = float(pysyncobj_monotonic())
        if self._isLeader():
            # Its next heartbeat round; proposals, reads and answers wake it before.
            until_heartbeat_s = float(self._SyncObj__newAppendEntriesTime) - now_s
            return min(tick_s, max(0.0, until_heartbeat_s))
        until_election_s = float(self._SyncObj__raftElectionDeadline) - now_s
        return max(tick_s, until_election_s)

    def _SyncObj__applyLogEntries(self) -> bool:  # noqa: N802
        """pysyncobj's apply of committed entries. After applying, its leader sends a round
        of AppendEntries only to tell the followers the new commit index; unless
        `announce_commits`, they learn it from the next AppendEntries instead (the next
        proposal's, or the next heartbeat): that round is half of the Raft messages of every
        entry, and a backend's followers serve no reads that would wait for it."""
        asks_for_round: bool = super()._SyncObj__applyLogEntries()
        return asks_for_round and self._announce_commits

    def _SyncObj__sendNextNodeIdx(  # noqa: N802
        self,
        node: Any,
        reset: bool = False,
        nextNodeIdx: int | None = None,  # noqa: N803 (pysyncobj's names)
        success: bool = False,
    ) -> None:
        """pysyncobj's answer to an AppendEntries, with a next index that never moves the
        leader forward again while it is looking for a match (raft/append_entries.py)."""
        next_index = self._catch_up.answer(
            self.journal.headers,
            self.raftCurrentTerm,
            reset=reset,
            success=success,
            next_index=nextNodeIdx,
        )
        super()._SyncObj__sendNextNodeIdx(
            node, reset=reset, nextNodeIdx=next_index, success=success
        )

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802
        """pysyncobj's message handler, after keeping held entries out of an AppendEntries
        (raft/append_entries.py: its follower would delete and rewrite them). Around it, the
        read index's numbers: an AppendEntries' number is echoed by the answer sent while it is
        handled; an answer's echo is recorded once pysyncobj has seen it."""
        if not isinstance(message, dict):
            super()._SyncObj__onMessageReceived(node, message)
            return
        if message.get("type") == "request_vote" and self.membership.refuses_vote(message):
            return
        stamp = message.get(STAMP)
        if message.get("type") == "append_entries" and isinstance(stamp, int):
            self._answering = (int(message["term"]), stamp)
        try:
            super()._SyncObj__onMessageReceived(
                node, without_held_entries(message, self.journal.headers)
            )
        finally:
            self._answering = None
        echo = message.get(ECHO)
        if message.get("type") == "next_node_idx" and _is_echo(echo):
            term, stamp = echo
            self._read_index.echoed(str(getattr(node, "id", node)), term, stamp, self._view())
        if message.get("type") == "next_node_idx":
            self._levels.heard(str(getattr(node, "id", node)), message, int(self.raftCurrentTerm))

    def _SyncObj__doChangeCluster(self, request: Any, reverse: bool = False) -> bool:  # noqa: N802
        """pysyncobj's change of its member set, as a membership entry is appended (or rolled
        back), and again when it is applied: the directory and the removed rule follow it."""
        changed: bool = super()._SyncObj__doChangeCluster(request, reverse)
        if isinstance(request, list) and len(request) >= 2:
            self.membership.on_change(request, reverse)
        return changed

    def _with_read_index(self, message: Any) -> Any:
        """`message` about to be sent, with its read-index number or echo (tick thread)."""
        if not isinstance(message, dict):
            return message
        if message.get("type") == "append_entries":
            return message | {STAMP: self._read_index.next_stamp()}
        if message.get("type") == "next_node_idx":
            message = self._levels.advertise(message)
            if self._answering is not None:
                return message | {ECHO: self._answering}
        return message

    def _agree_level(self) -> None:
        """Publish the level the group agrees on now, for the event loop (tick thread)."""
        members = [str(getattr(node, "id", node)) for node in self._SyncObj__otherNodes]
        term = int(self.raftCurrentTerm)
        self._agreed_level = (term, self._levels.agreed(members, term))

    def level_among(self, members: frozenset[str]) -> int:
        """The lowest level of this node and of `members` as heard this term (tick thread)."""
        return self._levels.agreed(members, int(self.raftCurrentTerm))

    @property
    def command_level(self) -> int | None:
        """The level this leader writes entries at (raft/member_levels.py); None off the leader,
        and until its first tick as leader of its term."""
        term, level = self._agreed_level
        return level if self.is_leader and term == int(self.raftCurrentTerm) else None

    def _view(self) -> LeaderView:
        return LeaderView(
            leads=self.leads_current_state,
            term=int(self.raftCurrentTerm),
            commit_index=int(self.raftCommitIndex),
            applied_index=int(self.raftLastApplied),
            now_s=time.monotonic(),
            followers=frozenset(str(n.address) for n in self._SyncObj__otherNodes),
        )

    def _compact_large_log(self) -> None:
        """pysyncobj compacts after a number of entries or a time; with large entries the log
        may hold gigabytes before either, so past `compaction_min_log_bytes` it is asked to
        compact at its next tick (a no-op while it is compacting, or if nothing new was
        applied since its last snapshot)."""
        if self.journal.size_bytes > self._settings.timings.compaction_min_log_bytes:
            self.forceLogCompaction()

    def _read_index_tick(self) -> None:
        if not self._read_index.pending:
            return  # the usual tick, on a member nobody reads from
        if self._read_index.on_tick(self._view()):
            # A heartbeat round now, numbered after the reads just registered, instead of at
            # the next appendEntriesPeriod: pysyncobj's own round, as its tick would send it.
            self._SyncObj__sendAppendEntries()

    def _watch_role(self) -> None:
        """Log elections and leader changes, once each (tick thread; a few attribute reads)."""
        role = Role(self._SyncObj__raftState)
        for change in self._role_watch.observe(role, self._SyncObj__raftCurrentTerm, self.leader):
            log.info("%s", change.message, extra={"event": change.event})

    # --- the one replicated entry point -------------------------------------------------------

    @replicated  # type: ignore[untyped-decorator]
    def apply(self, payload: bytes) -> object:
        index = self.raftLastApplied + 1
        if self._failed is not None:  # stopped: never apply past (or again over) the failure
            raise CorruptState(self._failed)
        started_ns = time.time_ns()
        try:
            result = self._machine.apply(index, payload)
        except CorruptState as error:  # ApplyFailed (a bug hit in apply) among them
            # pysyncobj retries an entry whose apply raised, so the node stops applying here.
            self._failed = f"corrupt state at index {index}: {error}"
            log.critical("refusing to apply: %s", self._failed, extra={"event": "apply_refused"})
            raise
        self._last_applied = AppliedEntry(index, started_ns, time.time_ns())
        self._on_applied()
        return result

    # --- asyncio side -----------------------------------------------------------------------

    def propose(
        self, payload: bytes, on_applied: Callable[[AppliedEntry], None] | None = None
    ) -> asyncio.Future[object]:
        """Propose `payload` on this node, which must be the leader. The future resolves with the
        machine's result once the entry is committed and applied here, or fails with a raftq
        error (`NotLeader` before proposing; `OutcomeUnknown` after a leadership change).
        `on_applied` (tracing) learns the entry's index and apply times just before it does."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        if not self.is_leader or self.membership.handing_over:
            future.set_exception(self.not_leader())
            return future

        def settle(result: object, reason: int, applied: AppliedEntry) -> None:
            if future.done():
                return
            if reason == FAIL_REASON.SUCCESS:
                if on_applied is not None:
                    on_applied(applied)
                future.set_result(result)
            else:
                future.set_exception(error_for(reason, self.api_address_of(self.leader)))

        def on_tick_thread(result: object, reason: int) -> None:
            # pysyncobj calls back right after applying the entry, on this thread: the last
            # entry applied is this one.
            loop.call_soon_threadsafe(settle, result, reason, self._last_applied)

        self.apply(payload, callback=on_tick_thread)
        return future

    def confirm_leadership(self) -> asyncio.Future[bool]:
        """A read index (raft/read_index.py): resolves True once this member is known to have
        led its current state at some moment after the call, and applied everything committed
        at that moment; its applied state may then answer a linearizable read. False when it
        does not lead, loses leadership, or a majority does not answer within a minimum
        election timeout. The caller should bound its wait too: a member whose transport is
        not ready does not tick."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def settle(confirmed: bool) -> None:
            if not future.done():
                future.set_result(confirmed)

        def on_tick_thread(confirmed: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(settle, confirmed)

        self._read_index.request(on_tick_thread)
        # Wake the tick thread now: it would otherwise send the confirming round only at its
        # next tick (up to `tick_s`, 0.2 s, away).
        self._SyncObj__pipeNotifier.notify()
        return future

    def change_members(self, change: MemberChange) -> asyncio.Future[None]:
        """Add or remove one member (this node must lead its current state). Resolves once the
        change is committed and applied here; fails with the reason it was refused, or with
        `OutcomeUnknown` when leadership changed first (the change may still take effect)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: RaftqError | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        def done(error: RaftqError | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(settle, error)

        self.membership.on_tick_thread(lambda: self.membership.propose_change(change, done))
        return future

    def step_down(self) -> asyncio.Future[bool]:
        """Hand leadership to the follower with the whole log (raft/member_changes.py).
        Resolves True once this node no longer leads (at once when it did not), False when no
        follower took over within the hand-over time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def settle(moved: bool) -> None:
            if not future.done():
                future.set_result(moved)

        def done(moved: bool) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, moved)

        self.membership.on_tick_thread(lambda: self.membership.step_down(done))
        return future

    def api_address_of(self, raft_address: str | None) -> str | None:
        return self.membership.directory.api_address_of(raft_address)

    def not_leader(self) -> NotLeader:
        hint = None if self.is_leader else self.api_address_of(self.leader)
        return NotLeader("this node is not the leader", leader_hint=hint)

    def members(self) -> list[dict[str, Any]]:
        """The current configuration, each member with its record, and on the leader whether
        it answered within an election timeout (any thread: as of the last tick)."""
        me = self._settings.self_address
        configuration = self.membership.configuration or frozenset({me, *self._settings.peers})
        answering = self.membership.answering
        rows: list[dict[str, Any]] = []
        for address in sorted(configuration):
            member = self.membership.directory.member(address)
            row: dict[str, Any] = {
                "raft_address": address,
                "node_id": None if member is None else member.node_id,
                "zone": None if member is None else member.zone,
                "api_address": None if member is None else member.api_address,
            }
            if answering is not None:  # the leader's view: who answered lately
                row["answering"] = address == me or address in answering
            rows.append(row)
        return rows

    # --- status ---------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return bool(self._isLeader())

    @property
    def leader(self) -> str | None:
        node = self._getLeader()
        return None if node is None else str(node.address)

    @property
    def snapshot_seconds(self) -> Histogram:
        """Times of the snapshots this node built (for metrics)."""
        return self._snapshots.build_seconds

    @property
    def failure(self) -> str | None:
        """Why the node stopped applying, if it did."""
        return self._failed

    @property
    def caught_up(self) -> bool:
        """Whether this member's state may answer reads: it has applied, at least once since it
        started, everything a leader said was committed. Its state is then a prefix of the
        group's, perhaps a stale one. A member that just started is replaying its log or has
        not heard from a leader yet: its state may lack any recent change."""
        return self._failed is None and bool(self.isReady())

    @property
    def leads_current_state(self) -> bool:
        """Whether this member leads and has applied its own term's first entry, the no-op
        pysyncobj appends on election. Everything committed before it was elected is then
        applied, so its state may say that something does not exist (a new leader learns which
        of its entries are committed only when that no-op commits)."""
        noop_index: int | None = getattr(self, "_SyncObj__noopIDx", None)
        return (
            self._failed is None
            and self.is_leader
            and noop_index is not None
            and int(self.raftLastApplied) >= noop_index
        )

    def status(self) -> dict[str, Any]:
        raw: dict[str, Any] = self.getStatus()
        term, state = self._role_seen
        return {
            "self": self._settings.self_address,
            "leader": self.leader,
            # As of the end of the last tick, consistent with each other (`_onTick`).
            "is_leader": state == _LEADER,
            "term": term,
            "role": _ROLES.get(state, "unknown"),
            "commit_index": raw.get("commit_idx"),
            # The leader's commit index as this node last heard it (its own on the leader).
            "leader_commit_index": raw.get("leader_commit_idx"),
            "last_applied": raw.get("last_applied"),
            "log_length": raw.get("log_len"),
            "machine_applied_index": self._machine.applied_index,
            "digest": self._machine.digest.hex(),
            "snapshots_installed": self._machine.snapshots_installed,
            "fsyncs": self.journal.fsync_count,
            "log_bytes": self.journal.size_bytes,
            "log_cached_payload_bytes": self.journal.cached_payload_bytes,
            "failure": self._failed,
            "members": self.members(),
            # raft/member_changes.py: votes withheld until caught up; not campaigning until a
            # leader was heard; no longer a member.
            "fresh": self.membership.fresh,
            "caught_up": self.membership.caught_up,
            "joining": self.membership.joining,
            "removed": self.membership.removed,
            "command_level": self.command_level,
            "max_command_level": self._levels.own_level,
        }

    # --- snapshots (run on the tick thread) -------------------------------------------------

    def _scratch(self, name: str) -> Path:
        path = self._settings.data_dir / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    def _write_snapshot_file(self, file_name: str, data: tuple[Any, Any, Any]) -> None:
        """pysyncobj's serializer: cuts the state here, archives it on a worker
        (raft/snapshot_builder.py), and raises so that pysyncobj renames nothing into place;
        `file_name` (pysyncobj's temporary file) is not used."""
        del file_name
        last_entry, previous_entry, members = data
        meta = SnapshotMeta(
            last_entry=tuple(last_entry),
            previous_entry=tuple(previous_entry),
            members=tuple(str(getattr(m, "address", m)) for m in members),
            directory=tuple(
                (m.node_id, m.zone, m.raft_address, m.api_address)
                for m in self.membership.directory.records()
            ),
        )
        self._snapshots.start(meta)
        raise BuildingInBackground

    def _read_snapshot_file(self, file_name: str) -> tuple[Any, Any, Any]:
        incoming = self._scratch("snapshot-in")
        meta = read_archive(Path(file_name), incoming)
        self._machine.install_snapshot(incoming)
        self._snapshots.installed()
        shutil.rmtree(incoming, ignore_errors=True)
        self.membership.directory.replace_all(
            Member(node_id=node_id, zone=zone, raft_address=raft, api_address=api)
            for node_id, zone, raft, api in meta.directory
        )
        # pysyncobj compares the members with its own node object, which no address string
        # equals: this member leaves itself out, or pysyncobj would count it as its own peer.
        others = [m for m in meta.members if m != self._settings.self_address]
        return meta.last_entry, meta.previous_entry, others


def _is_echo(value: object) -> TypeGuard[tuple[int, int]]:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(part, int) for part in value)
    )

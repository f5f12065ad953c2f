"""Membership changes, leadership hand-over and the rules of a member with an empty disk, on
pysyncobj's tick thread (raft/node.py owns one `Membership` and calls it from its hooks).

- **Changes** (`propose_change`): planned by `membership.plan_change` against what the leader
  sees now, then proposed as pysyncobj's own membership entry, with the member's record as a
  fourth element that pysyncobj ignores and `on_change` reads on every member (and on replay
  after a restart). Its callback fires once the entry is committed and applied on the leader.
- **Hand-over** (`step_down`): the leader stops taking proposals (`handing_over`), waits until
  a follower has its whole log, and sends it pysyncobj's TimeoutNow (`transferLeadership`);
  that follower campaigns at once with a higher term and the old leader steps down when it
  hears it. Proposals are refused meanwhile (NotLeader: frontends retry elsewhere), so the
  follower cannot fall behind again; the pause ends when leadership moved, or after
  `hand_over_s` when it did not.
- **An empty disk** (`fresh`): a member that started with no Raft state may have been a member
  before, on a disk it lost, with its log and its votes. Until it has applied everything a
  leader told it was committed, it grants no vote to a candidate whose log is not empty: an
  entry committed with its lost copy stays on a majority that way, and a vote it cast before
  it lost its disk cannot be cast twice for the log it no longer has. Candidates with empty
  logs (a group starting for the first time) still get its vote.
- **Joining** (`--join`): a new member takes no part in elections until it has heard from a
  leader, which happens once the group added it: before that, its elections would only raise
  the group's term and depose a healthy leader. It votes at once: it never was a member, so
  its empty log hides nothing it promised (the same holds for a member removed and then added
  again, as `raftq admin members replace` does: once its removal committed, what it held is
  on a majority of the others).
- **Removed**: a member that applied its own removal never campaigns again; it keeps running
  until the operator stops it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysyncobj import FAIL_REASON
from pysyncobj import pickle as pysyncobj_pickle
from pysyncobj.monotonic import monotonic as pysyncobj_monotonic
from pysyncobj.syncobj import _COMMAND_TYPE

from raftq.common.command_levels import CODE_LEVEL
from raftq.common.errors import ConflictingState, RaftqError, UpgradeInProgress
from raftq.common.settings import Member
from raftq.raft.failures import error_for
from raftq.raft.membership import GroupView, MemberChange, MemberDirectory, plan_change

if TYPE_CHECKING:
    from raftq.raft.node import RaftNode

log = logging.getLogger(__name__)

ChangeDone = Callable[[RaftqError | None], None]
StepDone = Callable[[bool], None]


@dataclass
class _HandOver:
    until_s: float  # pysyncobj's clock
    waiting: list[StepDone]
    sent_at_s: float | None = None


class Membership:
    def __init__(
        self,
        node: RaftNode,
        directory: MemberDirectory,
        *,
        fresh: bool,
        joining: bool,
        hand_over_s: float,
    ) -> None:
        self._node = node
        self.directory = directory
        # A new member (`joining`) never was one: its empty log hides nothing it promised.
        self.fresh = fresh and not joining
        self.joining = joining
        self.removed = False
        # Has applied, since it started, everything a leader said was committed.
        self.caught_up = False
        # The configuration and, on a leader, who answers: refreshed every tick, read from
        # any thread (each is replaced whole).
        self.configuration: frozenset[str] = frozenset()
        self.answering: frozenset[str] | None = None
        self._hand_over_s = hand_over_s
        self._hand_over: _HandOver | None = None
        # A change this leader proposed whose entry is not applied yet. pysyncobj 0.3.17 means
        # to refuse a second change meanwhile but never records the first one's index, so two
        # changes could be in the log at once: this is what keeps them one at a time.
        self._proposed: int | None = None  # the term it was proposed in
        self._calls: deque[Callable[[], None]] = deque()

    # --- any thread -------------------------------------------------------------------------

    def on_tick_thread(self, call: Callable[[], None]) -> None:
        """Run `call` at the tick thread's next tick (woken now)."""
        self._calls.append(call)
        self._node._SyncObj__pipeNotifier.notify()

    @property
    def handing_over(self) -> bool:
        return self._hand_over is not None

    # --- tick thread ------------------------------------------------------------------------

    def tick(self) -> None:
        """Before pysyncobj's own tick: run queued calls, keep a joining or removed member
        from campaigning, end the fresh rule once caught up, drive a hand-over."""
        while self._calls:
            self._calls.popleft()()
        node = self._node
        if self._proposed is not None and (
            not node.is_leader or int(node.raftCurrentTerm) != self._proposed
        ):
            self._proposed = None  # its callback failed it, or will: nothing is pending here
        if node._SyncObj__raftLeader is not None:
            self.joining = False
        if not self.caught_up and self._caught_up():
            self.caught_up = True
            self.fresh = False
            log.info("caught up with the group", extra={"event": "caught_up"})
        if self.joining or self.removed:
            # pysyncobj campaigns once its deadline passed; keep it in the future.
            node._SyncObj__raftElectionDeadline = pysyncobj_monotonic() + 3600.0
        if self._hand_over is not None:
            self._drive_hand_over(self._hand_over)
        view = self.view()
        self.configuration = view.members
        self.answering = view.answering if node.is_leader else None

    def _caught_up(self) -> bool:
        node = self._node
        leader_commit = node._SyncObj__leaderCommitIndex
        return (
            node._SyncObj__raftLeader is not None
            and leader_commit is not None
            and leader_commit > 0
            and int(node._SyncObj__raftLastApplied) >= int(leader_commit)
        )

    def refuses_vote(self, message: dict[str, Any]) -> bool:
        """Whether a `request_vote` must go unanswered (the fresh and removed rules)."""
        if self.removed:
            return True
        return self.fresh and int(message.get("last_log_term", 0)) > 0

    def view(self) -> GroupView:
        node = self._node
        me = str(node._SyncObj__selfNode.address)
        others = {str(n.address) for n in node._SyncObj__otherNodes}
        deadline = float(pysyncobj_monotonic()) - node._settings.timings.election_timeout_min_s
        answered: dict[Any, float] = node._SyncObj__lastResponseTime
        answering = {
            str(n.address)
            for n in node._SyncObj__otherNodes
            if n in node._SyncObj__connectedNodes and answered.get(n, 0.0) > deadline
        }
        return GroupView(
            leader=me,
            members=frozenset(others | {me}),
            answering=frozenset(answering),
            change_pending=self._proposed is not None,
        )

    def propose_change(self, change: MemberChange, done: ChangeDone) -> None:
        node = self._node
        if not node.leads_current_state:
            done(node.not_leader())
            return
        view = self.view()
        try:
            plan_change(view, change, self.directory)
        except RaftqError as error:
            done(error)
            return
        # The release before applies a membership entry only once committed, and counts its
        # start-up members in its reads: a change waits until every member that answers runs
        # this one (a dead member, the usual one to replace, says nothing).
        level = node.level_among(view.answering)
        if level < CODE_LEVEL:
            done(
                UpgradeInProgress(
                    "membership changes need every member of the group at command level "
                    f"{CODE_LEVEL}, and one answers at level {level} (it runs the release "
                    "before, or has not said its level to a leader just elected): finish the "
                    "upgrade, or retry in a moment"
                )
            )
            return
        member = change.member
        request = [
            "add" if change.action == "add" else "rem",
            member.raft_address,
            member.raft_address,
            member.model_dump(),
        ]

        def committed(_result: object, reason: int) -> None:
            self._proposed = None
            if reason == FAIL_REASON.SUCCESS:
                done(None)
            elif reason == FAIL_REASON.REQUEST_DENIED:
                done(
                    ConflictingState(
                        "the leader refused the change: another one is in progress, or it "
                        "was just elected; retry",
                        field="members",
                    )
                )
            else:
                done(error_for(reason, node.api_address_of(node.leader)))

        log.info(
            "proposing to %s %s (%s)",
            change.action,
            member.node_id,
            member.raft_address,
            extra={"event": "member_change_proposed"},
        )
        self._proposed = int(node.raftCurrentTerm)
        node._applyCommand(pysyncobj_pickle.dumps(request), committed, _COMMAND_TYPE.MEMBERSHIP)

    def on_change(self, request: list[Any], reverse: bool) -> None:
        """A membership entry was appended (or, `reverse`, rolled back) on this member."""
        adding = (request[0] == "add") != reverse
        address = str(request[1])
        if adding and len(request) >= 4 and isinstance(request[3], dict):
            try:
                self.directory.learn(Member.model_validate(request[3]))
            except ValueError:
                log.warning("a membership entry carries no valid record for %s", address)
        me = str(self._node._SyncObj__selfNode.address)
        if address == me:
            self.removed = not adding
            if self.removed:
                log.warning(
                    "this member was removed from its group: it takes no part in elections "
                    "any more and may be stopped",
                    extra={"event": "member_removed"},
                )

    def step_down(self, done: StepDone) -> None:
        if not self._node.is_leader and self._hand_over is None:
            done(False)
            return
        if self._hand_over is not None:
            self._hand_over.waiting.append(done)
            return
        until = float(pysyncobj_monotonic()) + self._hand_over_s
        self._hand_over = _HandOver(until_s=until, waiting=[done])
        self._drive_hand_over(self._hand_over)

    def _end_hand_over(self, hand_over: _HandOver, moved: bool) -> None:
        self._hand_over = None
        for done in hand_over.waiting:
            done(moved)

    def _drive_hand_over(self, hand_over: _HandOver) -> None:
        node = self._node
        now_s = float(pysyncobj_monotonic())
        leader = node.leader
        if leader is not None and leader != node._settings.self_address:
            self._end_hand_over(hand_over, True)  # another member leads
            return
        if now_s > hand_over.until_s:
            log.warning("leadership hand-over timed out", extra={"event": "hand_over_failed"})
            self._end_hand_over(hand_over, False)
            return
        if not node.is_leader:
            return  # the election the follower started is on; its winner is awaited
        retry_s = node._settings.timings.election_timeout_max_s
        if hand_over.sent_at_s is not None and now_s - hand_over.sent_at_s < retry_s:
            return  # the follower is campaigning; asked again if it has not won by then
        if node._SyncObj__commandsQueue._FastQueue__queue:  # pysyncobj's FastQueue: a deque
            # Proposals made before the hand-over began are appended at this tick: a follower
            # must have them too, or the others would not elect it.
            return

        def sent(_result: object, reason: int) -> None:
            if reason == FAIL_REASON.SUCCESS:
                hand_over.sent_at_s = now_s

        # Denied while no follower has the whole log yet: tried again at the next tick.
        node.transferLeadership(None, sent)

"""The leader writes each entry in the newest format the group agrees on, read at each proposal:
v2 while the level is unknown (off the leader, before its first tick) or 2, v3 once it is 3, and
back to v2 at once if it drops (a member of the previous release joined)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from raftq.backend.group_commit import GroupCommitter
from raftq.common import codec
from raftq.common.clock import FakeClock
from raftq.common.leader_clock import LeaderClock
from raftq.common.settings import GroupCommitSettings
from raftq.raft.node import RaftNode
from tests.unit.backend.test_group_commit import START_MS, FakeRaft, settle, stats_command


async def test_entries_follow_the_agreed_level_at_each_proposal() -> None:
    # Given a committer whose group's agreed level changes between proposals
    raft = FakeRaft()
    agreed: list[int | None] = [None]
    committer = GroupCommitter(
        cast(RaftNode, raft),
        LeaderClock(FakeClock(START_MS)),
        GroupCommitSettings(),
        entry_level=lambda: agreed[0],
    )
    runner = asyncio.create_task(committer.run())
    try:
        # When one command is proposed at each level: unknown, 2, 3, then 2 again
        for level in (None, 2, 3, 2):
            agreed[0] = level
            task = asyncio.create_task(committer.submit(stats_command(1)))
            await settle()
            raft.proposals[-1].commit()
            await task
        # Then the entries were v2, v2, v3, v2, and each carried its command
        payloads = [proposal.payload for proposal in raft.proposals]
        assert [codec.entry_version(payload) for payload in payloads] == [2, 2, 3, 2]
        assert all(proposal.queues == ["q1"] for proposal in raft.proposals)
        assert committer.stats.proposals_by_format == {2: 3, 3: 1}
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await committer.close()

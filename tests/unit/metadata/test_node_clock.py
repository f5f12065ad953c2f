"""The metadata leader stamps its commands with its `LeaderClock`: a step of its wall clock does
not move the catalogue's time ahead of its monotonic clock (issue 17, item 6).

`MetadataNode.execute` runs on a node whose Raft member is a one-member stand-in: it applies
each payload to a real `MetadataRaftMachine` at the next index, as a committed entry would be.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

from raftq.common.clock import FakeClock
from raftq.common.leader_clock import ALLOWANCE_MS, CATCH_UP_DIVISOR, LeaderClock
from raftq.common.limits import HOUR_MS, SECOND_MS
from raftq.common.metadata_commands import CreatePrincipal
from raftq.metadata.node import MetadataNode
from raftq.metadata.raft_machine import MetadataRaftMachine

START_MS = 1_700_000_000_000


@dataclass
class OneMemberRaft:
    machine: MetadataRaftMachine
    is_leader: bool = True
    command_level: int | None = 3  # a group of one agrees on its own level

    def propose(self, payload: bytes) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(self.machine.apply(self.machine.applied_index + 1, payload))
        return future


def metadata_node(clock: FakeClock) -> MetadataNode:
    machine = MetadataRaftMachine()
    node = SimpleNamespace(
        machine=machine,
        raft=OneMemberRaft(machine),
        settings=SimpleNamespace(propose_timeout_s=5.0),
        leader_clock=LeaderClock(clock),
    )
    # What `execute` reads of a node, without a pysyncobj member behind it.
    return cast(MetadataNode, node)


async def test_the_metadata_leader_s_time_moves_by_monotonic_time_after_a_wall_clock_step() -> None:
    # Given a metadata leader whose catalogue time is its wall time
    clock = FakeClock(START_MS)
    node = metadata_node(clock)
    await MetadataNode.execute(node, CreatePrincipal(now_ms=0, actor="root", principal_id="a"))
    assert node.machine.machine.clock_ms == START_MS
    # When its wall clock steps an hour ahead and a second passes
    clock.set_wall_ms(START_MS + HOUR_MS)
    await MetadataNode.execute(node, CreatePrincipal(now_ms=0, actor="root", principal_id="b"))
    clock.advance(SECOND_MS)
    await MetadataNode.execute(node, CreatePrincipal(now_ms=0, actor="root", principal_id="c"))
    # Then the catalogue's time moved by that second (and the allowance), not by the hour
    catch_up_ms = SECOND_MS // CATCH_UP_DIVISOR
    assert node.machine.machine.clock_ms == START_MS + ALLOWANCE_MS + SECOND_MS + catch_up_ms

"""Membership changes of a backend cluster's Raft group through real `raftq backend` processes:
a member added and one removed while writes run and the leader is killed in the middle of each
change; a dead member replaced by a node with an empty disk, at a new address and at the same
one, through `raftq admin members replace`; leadership handed over; and every refused change.

Throughout: no two leaders in one term (every node's status is watched), nothing acknowledged
lost (every acknowledged body is drained at the end), and the members agree (same digest)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from raftq.common.errors import RaftqError
from tests.integration.cluster import (
    OPERATOR_SECRET,
    Cluster,
    eventually,
    metadata_and_backend,
)
from tests.integration.workload import create_queue, drain, send_one

pytestmark = pytest.mark.integration
QUEUE = "orders"


async def post(cluster: Cluster, i: int, path: str, payload: Any) -> tuple[int, dict[str, Any]]:
    return await cluster.post_json(i, path, payload)


def add_body(cluster: Cluster, i: int) -> dict[str, Any]:
    node = cluster.nodes[i]
    member = {
        "node_id": node.node_id,
        "zone": node.zone,
        "raft_address": node.raft_address,
        "api_address": node.api_address,
    }
    return {"action": "add", "member": member}


async def member_ids(cluster: Cluster, i: int) -> set[str] | None:
    status = await cluster.status(i)
    return None if status is None else {row["node_id"] for row in status["members"]}


class LeaderWatch:
    """Polls every node's status and records which claimed to lead in which term."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.leaders: dict[int, set[str]] = defaultdict(set)

    async def run(self) -> None:
        while True:
            for i, node in enumerate(self.cluster.nodes):
                with contextlib.suppress(Exception):
                    status = await self.cluster.status(i)
                    if status is not None and status["is_leader"]:
                        self.leaders[int(status["term"])].add(node.node_id)
            await asyncio.sleep(0.02)

    def two_leaders_in_a_term(self) -> dict[int, set[str]]:
        return {term: ids for term, ids in self.leaders.items() if len(ids) > 1}


class Writer:
    """Sends unique bodies one after another, keeping those acknowledged."""

    def __init__(self, cluster: Cluster) -> None:
        self.client = cluster.new_client(timeout_s=5)
        self.acknowledged: set[bytes] = set()
        self.count = 0

    async def run(self) -> None:
        while True:
            body = f"m-{self.count}".encode()
            self.count += 1
            try:
                result = await send_one(self.client, QUEUE, body)
            except RaftqError:
                await asyncio.sleep(0.05)
                continue
            if result.sent:
                self.acknowledged.add(body)


@contextlib.asynccontextmanager
async def running(*jobs: Any) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job.run()) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def change_until_done(
    cluster: Cluster, among: list[int], payload: dict[str, Any], done: Any
) -> None:
    """Ask the current leader for the change until `done()` says it took effect (a change
    whose leader died before it committed may be lost: the operator repeats it)."""

    async def attempt() -> bool | None:
        if await done():
            return True
        # With four members and one killed, an election needs all three others' votes: under
        # load, split votes can take several rounds.
        leader = await cluster.leader(timeout_s=60, among=among)
        status, answer = await post(cluster, leader, "/v1/raft/members", payload)
        assert status in (200, 400, 421, 503), answer
        return True if status == 200 else None

    await eventually(attempt, timeout_s=180, what="the membership change", every_s=0.5)


async def test_members_added_and_removed_while_the_leader_is_killed_mid_change(
    cluster: Cluster,
) -> None:
    # Given a three-member cluster taking writes, and a fourth node started to join it
    await create_queue(cluster.client, QUEUE)
    watch, writer = LeaderWatch(cluster), Writer(cluster)
    newcomer = cluster.add_node("d")
    cluster.start(newcomer, "--join")
    writer.client = cluster.new_client(timeout_s=5)  # knows the newcomer's address too
    async with running(watch, writer):
        await eventually(
            lambda: _some(writer.acknowledged), timeout_s=20, what="writes to be acknowledged"
        )
        # When the leader is asked to add it and killed right away
        first = await cluster.leader()
        adding = asyncio.create_task(
            post(cluster, first, "/v1/raft/members", add_body(cluster, newcomer))
        )
        await asyncio.sleep(0.01)
        cluster.kill(first)
        with contextlib.suppress(Exception):
            await adding
        others = [i for i in range(3) if i != first]

        async def added() -> bool:
            leader = await cluster.leader(timeout_s=60, among=others)
            return "n4" in (await member_ids(cluster, leader) or set())

        # Then the change, repeated if it was lost, takes effect under the next leader
        await change_until_done(cluster, others, add_body(cluster, newcomer), added)
        cluster.start(first)
        await eventually(
            lambda: _caught_up(cluster, newcomer), timeout_s=60, what="the newcomer to catch up"
        )

        # When a follower is removed and the leader killed right away
        second = await cluster.leader(among=[*range(3), newcomer])
        leaving = next(i for i in range(3) if i != second)
        body = {"action": "remove", "node_id": cluster.nodes[leaving].node_id}
        removing = asyncio.create_task(post(cluster, second, "/v1/raft/members", body))
        await asyncio.sleep(0.01)
        cluster.kill(second)
        with contextlib.suppress(Exception):
            await removing
        live = [i for i in (*range(3), newcomer) if i not in (second,)]
        gone = cluster.nodes[leaving].node_id

        async def removed() -> bool:
            leader = await cluster.leader(timeout_s=60, among=live)
            return gone not in (await member_ids(cluster, leader) or {gone})

        await change_until_done(cluster, live, body, removed)
        cluster.start(second)
        remaining = [i for i in (*range(3), newcomer) if i != leaving]
        # The removed member may be stopped: the others no longer talk to it
        cluster.kill(leaving)
        # And writes go on with the new configuration
        before = len(writer.acknowledged)
        await eventually(
            lambda: _more(writer.acknowledged, before), timeout_s=30, what="writes to resume"
        )

    # Then: one leader per term, the members agree, and nothing acknowledged is lost
    assert watch.two_leaders_in_a_term() == {}
    await cluster.converged(timeout_s=30, among=remaining)
    leader = await cluster.leader(among=remaining)
    assert await member_ids(cluster, leader) == {cluster.nodes[i].node_id for i in remaining}
    received = set(await drain(cluster.client_for(remaining), QUEUE))
    assert writer.acknowledged - received == set()


async def test_the_leader_hands_over_under_writes_and_a_follower_has_nothing_to_hand(
    cluster: Cluster,
) -> None:
    await create_queue(cluster.client, QUEUE)
    watch, writer = LeaderWatch(cluster), Writer(cluster)
    async with running(watch, writer):
        await eventually(lambda: _some(writer.acknowledged), timeout_s=20, what="writes")
        leader = await cluster.leader()
        follower = next(i for i in range(3) if i != leader)
        # A follower asked to step down does nothing
        status, answer = await post(cluster, follower, "/v1/raft/step-down", {})
        assert (status, answer["was_leader"], answer["moved"]) == (200, False, False)
        # The leader, asked as a stop hook asks (its own address, no metadata address), hands
        # over to another member and says which
        (cluster.root / "operator.secret").write_text(OPERATOR_SECRET)
        handed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "raftq.client.cli", "admin",
             "--operator-secret-file", str(cluster.root / "operator.secret"),
             "raft", "step-down", "--node", cluster.nodes[leader].api_address],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert handed.returncode == 0, handed.stderr
        assert "handed leadership to" in handed.stdout
        await cluster.leader(among=[i for i in range(3) if i != leader])
        before = len(writer.acknowledged)
        await eventually(lambda: _more(writer.acknowledged, before), timeout_s=20, what="writes")
    assert watch.two_leaders_in_a_term() == {}
    await cluster.converged(timeout_s=30)
    assert writer.acknowledged - set(await drain(cluster.client, QUEUE)) == set()


async def test_changes_that_would_lose_quorum_or_are_malformed_are_refused_and_change_nothing(
    cluster: Cluster,
) -> None:
    leader = await cluster.leader()
    await eventually(
        lambda: _level_agreed(cluster, leader), timeout_s=20, what="the members' levels"
    )
    dead, alive = [i for i in range(3) if i != leader]
    cluster.kill(dead)
    before = await member_ids(cluster, leader)
    refusals = [
        # removing a live member while another is dead leaves no majority
        ({"action": "remove", "node_id": cluster.nodes[alive].node_id}, "would lose quorum"),
        # adding while one of three is dead needs three of four
        (add_body(cluster, cluster.add_node("d")), "would lose quorum"),
        ({"action": "remove", "node_id": "n9"}, "'n9' is not a member"),
        ({"action": "remove", "node_id": cluster.nodes[leader].node_id}, "step-down"),
        (add_body(cluster, alive), "already a member"),
        ({"action": "promote", "node_id": "n2"}, 'action must be "add" or "remove"'),
        ({"action": "add", "member": {"node_id": "n5"}}, "member.zone"),
        (b"{not json", "not JSON"),
    ]
    for payload, reason in refusals:
        status, answer = await post(cluster, leader, "/v1/raft/members", payload)
        assert status == 400 and reason in answer["message"], (payload, answer)
    # A follower refuses with the leader's address
    status, answer = await post(
        cluster, alive, "/v1/raft/members", {"action": "remove", "node_id": "n9"}
    )
    assert status == 421 and answer["leader"] == cluster.nodes[leader].api_address
    assert await member_ids(cluster, leader) == before

    # Two changes at once: while the first cannot commit yet (both followers paused just
    # after they answered), the second is refused; the first completes once they are back
    cluster.start(dead)
    await cluster.converged(timeout_s=30, among=range(3))

    async def all_answer() -> bool | None:
        status = await cluster.status(leader)
        return True if status and all(r["answering"] for r in status["members"]) else None

    await eventually(all_answer, timeout_s=20, what="every member to answer the leader")
    newcomer = len(cluster.nodes) - 1
    cluster.start(newcomer, "--join")
    await eventually(lambda: cluster.status(newcomer), timeout_s=20, what="the newcomer")
    await eventually(all_answer, timeout_s=20, what="every member to answer the leader")
    for i in (dead, alive):
        cluster.pause(i)
    try:
        first = asyncio.create_task(
            post(cluster, leader, "/v1/raft/members", add_body(cluster, newcomer))
        )
        await asyncio.sleep(0.1)
        removal = {"action": "remove", "node_id": cluster.nodes[dead].node_id}
        status, answer = await post(cluster, leader, "/v1/raft/members", removal)
    finally:
        for i in (dead, alive):
            cluster.resume(i)
    assert status == 400 and "in progress" in answer["message"], answer
    await first
    assert await member_ids(cluster, await cluster.leader()) == {"n1", "n2", "n3", "n4"}


async def test_a_dead_member_is_replaced_by_an_empty_node_with_the_admin_command(
    cluster_factory: Any, tmp_path: Path
) -> None:
    # Given a metadata group and cluster c1, with messages acknowledged
    metadata, backend = await metadata_and_backend(cluster_factory, tmp_path)
    await create_queue(backend.client, QUEUE)
    sent = {f"before-{i}".encode() for i in range(50)}
    for body in sent:
        await send_one(backend.client, QUEUE, body)
    watch = LeaderWatch(backend)
    async with running(watch):
        # When a follower's machine dies for good, and a new node takes its place
        leader = await backend.leader()
        dead = next(i for i in range(3) if i != leader)
        backend.kill(dead)
        new = backend.add_node(backend.nodes[dead].zone)
        backend.start(new, "--join")
        node = backend.nodes[new]
        replaced = _admin(
            metadata, tmp_path, "members", "replace", "c1", backend.nodes[dead].node_id,
            "--new-node-id", node.node_id, "--zone", node.zone,
            "--raft-address", node.raft_address, "--api-address", node.api_address,
        )  # fmt: skip
        assert replaced.returncode == 0, replaced.stderr
        assert "has caught up" in replaced.stderr
        # Then the metadata group records the new member, and the old one is gone
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        assert catalogue is not None
        recorded = {m["node_id"] for m in catalogue["clusters"][0]["members"]}
        live = [i for i in range(3) if i != dead]
        assert recorded == {backend.nodes[i].node_id for i in [*live, new]}

        # And when another original member dies, the replacement makes the majority
        other = next(i for i in live if i != leader)
        backend.kill(other)
        survivors = [leader, new]
        await backend.leader(among=survivors, timeout_s=20)
        await send_one(backend.client_for(survivors), QUEUE, b"after")
        received = set(await drain(backend.client_for(survivors), QUEUE))
    assert sent | {b"after"} <= received
    assert watch.two_leaders_in_a_term() == {}

    # A removal the group cannot afford is refused by the command, naming why
    refused = _admin(metadata, tmp_path, "members", "remove", "c1", backend.nodes[leader].node_id)
    assert refused.returncode != 0


async def test_a_member_whose_disk_was_lost_rejoins_at_its_address(cluster: Cluster) -> None:
    # Given a cluster with acknowledged messages and a follower whose disk is lost
    await create_queue(cluster.client, QUEUE)
    sent = {f"kept-{i}".encode() for i in range(50)}
    for body in sent:
        await send_one(cluster.client, QUEUE, body)
    leader = await cluster.leader()
    lost = next(i for i in range(3) if i != leader)
    cluster.kill(lost)
    shutil.rmtree(cluster.nodes[lost].data_dir)
    # When it starts again on an empty disk: it catches up and only then takes part in votes
    cluster.start(lost)
    status = await eventually(lambda: cluster.status(lost), timeout_s=20, what="it to answer")
    await eventually(
        lambda: _caught_up(cluster, lost), timeout_s=60, what="the empty member to catch up"
    )
    assert status["fresh"] or status["caught_up"]  # it withheld votes until caught up
    # Then with the third member gone, the rejoined one makes the majority with the leader
    third = next(i for i in range(3) if i not in (leader, lost))
    cluster.kill(third)
    survivors = [leader, lost]
    await cluster.converged(timeout_s=30, among=survivors)
    assert sent <= set(await drain(cluster.client_for(survivors), QUEUE))


def _admin(
    metadata: Cluster, root: Path, *argv: str, json: bool = False
) -> subprocess.CompletedProcess[str]:
    (root / "operator.secret").write_text(OPERATOR_SECRET)
    live = next(n for n in metadata.nodes if n.process is not None and n.process.poll() is None)
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", "--metadata", live.api_address,
         "--operator-secret-file", str(root / "operator.secret"),
         *(["--json"] if json else []), *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def _some(values: set[bytes]) -> bool | None:
    return True if values else None


async def _more(values: set[bytes], than: int) -> bool | None:
    return True if len(values) > than else None


async def _caught_up(cluster: Cluster, i: int) -> bool | None:
    status = await cluster.status(i)
    return True if status is not None and status["caught_up"] else None


async def test_an_emptied_member_does_not_help_elect_a_leader_missing_committed_entries(
    cluster: Cluster,
) -> None:
    # Given messages committed by the leader and one follower only (the other is paused)
    await create_queue(cluster.client, QUEUE)
    leader = await cluster.leader()
    behind, witness = [i for i in range(3) if i != leader]
    cluster.pause(behind)
    sent = {f"only-two-{i}".encode() for i in range(20)}
    for body in sent:
        await send_one(cluster.client, QUEUE, body)
    # When the follower that holds them loses its disk, the leader dies, and the one that was
    # behind comes back
    cluster.kill(witness)
    shutil.rmtree(cluster.nodes[witness].data_dir)
    cluster.kill(leader)
    cluster.resume(behind)
    cluster.start(witness)
    # Then the emptied member withholds its vote from the member that lacks those entries: no
    # leader is elected without them (with its vote, one would be, and they would be lost)
    for _ in range(60):  # 6 s: several election timeouts
        for i in (behind, witness):
            status = await cluster._status_or_none(i)
            assert not (status and status["is_leader"]), "a leader lacking committed entries"
        await asyncio.sleep(0.1)
    # And once the old leader is back, it leads again, and nothing acknowledged is lost
    cluster.start(leader)
    await cluster.converged(timeout_s=60)
    assert sent <= set(await drain(cluster.client, QUEUE))


async def test_a_metadata_member_is_replaced_at_a_new_address(
    cluster_factory: Any, tmp_path: Path
) -> None:
    # Given the metadata group, with a principal recorded
    metadata, _backend = await metadata_and_backend(cluster_factory, tmp_path)
    assert _admin(metadata, tmp_path, "principals", "create", "before").returncode == 0
    leader = await metadata.leader()
    dead = next(i for i in range(3) if i != leader)
    metadata.kill(dead)
    # When a new node replaces the dead member
    new = metadata.add_node(metadata.nodes[dead].zone)
    metadata.start(new, "--join")
    node = metadata.nodes[new]
    replaced = _admin(
        metadata, tmp_path, "members", "replace", "metadata", metadata.nodes[dead].node_id,
        "--new-node-id", node.node_id, "--zone", node.zone,
        "--raft-address", node.raft_address, "--api-address", node.api_address,
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    listed = json.loads(_admin(metadata, tmp_path, "members", "list", "metadata", json=True).stdout)
    assert {row["node_id"] for row in listed} == {
        metadata.nodes[i].node_id for i in range(4) if i != dead
    }
    # Then with another original member gone too, the group still elects and serves
    other = next(i for i in range(3) if i not in (dead, leader))
    metadata.kill(other)
    await metadata.leader(among=[leader, new], timeout_s=20)
    assert _admin(metadata, tmp_path, "principals", "create", "after").returncode == 0
    catalogue = await metadata.get_json(new, "/v1/catalogue")
    assert catalogue is not None and {"before", "after"} <= set(catalogue["principals"])


async def _level_agreed(cluster: Cluster, leader: int) -> bool | None:
    """The leader heard every member say its command level (this release's: 3)."""
    status = await cluster.status(leader)
    return True if status is not None and status["command_level"] == 3 else None

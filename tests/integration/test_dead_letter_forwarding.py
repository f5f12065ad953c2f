"""Dead letters reach a dead-letter queue on another backend cluster, with real processes: a
metadata group and two backend clusters that report to it (issue 17, item 1).

A message of `orders` received past its max receive count waits in the outbox of its cluster;
the backend leader's load report names the queue, and the metadata leader forwards it to
`orders-dlq` on the other cluster. Then the metadata leader is killed, and the next one forwards
the next dead letter. Each arrives exactly once, and each cluster's replicas agree.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from raftq.common.commands import GetQueueStats, ReceiveMessages, SendEntry, SendMessages
from raftq.common.metadata_api import CreateQueueRequest
from raftq.common.queue_attributes import QueueAttributes, RedrivePolicy
from raftq.common.results import QueueStats, ReceiveResult, SendResult
from tests.integration.cluster import Cluster, eventually

pytestmark = pytest.mark.integration


async def test_dead_letters_cross_clusters_once_and_a_new_metadata_leader_goes_on(
    cluster_factory: Callable[..., Cluster],
) -> None:
    # Given a metadata group, two backend clusters reporting to it, and `orders` on one cluster
    # redriving after one receive to `orders-dlq` on the other
    metadata = cluster_factory(name="metadata", kind="metadata")
    registering = [arg for node in metadata.nodes for arg in ("--metadata", node.api_address)]
    clusters = {
        cluster_id: cluster_factory("--cluster-id", cluster_id, *registering, name=cluster_id)
        for cluster_id in ("c1", "c2")
    }
    for cluster in (metadata, *clusters.values()):
        cluster.start_all()
    for cluster in (metadata, *clusters.values()):
        await cluster.leader(timeout_s=30)

    async def both_report() -> bool | None:
        catalogue = await metadata.get_json(0, "/v1/catalogue")
        found = catalogue["clusters"] if catalogue else []
        return True if len(found) == 2 and all(len(c["reports"]) == 3 for c in found) else None

    await eventually(both_report, timeout_s=60, what="both clusters to report")
    client = metadata.metadata_client()
    dlq = (await client.create_queue(CreateQueueRequest(actor="admin", name="orders-dlq"))).queue
    redrive = RedrivePolicy(dead_letter_queue="orders-dlq", max_receive_count=1)
    source = (
        await client.create_queue(
            CreateQueueRequest(
                actor="admin", name="orders", attributes=QueueAttributes(redrive=redrive)
            )
        )
    ).queue
    assert source.placement.cluster_id != dlq.placement.cluster_id  # the least loaded, each
    on_source = clusters[source.placement.cluster_id].client
    on_dlq = clusters[dlq.placement.cluster_id].client

    async def dead_letter(body: bytes) -> str:
        """Send `body` to `orders` and receive it twice (visibility 0): it waits for its DLQ."""
        entry = SendEntry(entry_id="e", body=body, dedup_id=body.decode())
        sent = await on_source.execute(
            SendMessages(now_ms=0, queue=source.queue_id, entries=(entry,))
        )
        assert isinstance(sent, SendResult) and not sent.failed, sent
        for expected in (1, 0):
            received = await on_source.execute(
                ReceiveMessages(now_ms=0, queue=source.queue_id, visibility_timeout_ms=0)
            )
            assert isinstance(received, ReceiveResult) and len(received.messages) == expected
        return sent.sent[0].message_id

    async def stats(client_of: Cluster, queue_id: str) -> QueueStats:
        result = await client_of.client.execute(GetQueueStats(now_ms=0, queue=queue_id))
        assert isinstance(result, QueueStats), result
        return result

    async def forwarded(count: int) -> bool | None:
        waiting = await stats(clusters[source.placement.cluster_id], source.queue_id)
        arrived = await stats(clusters[dlq.placement.cluster_id], dlq.queue_id)
        if waiting.dead_letter_pending == 0 and arrived.visible == count:
            return True
        return None

    # When a message of `orders` is dead-lettered
    first = await dead_letter(b"first")
    # Then it arrives in `orders-dlq` on the other cluster, and leaves `orders`
    await eventually(lambda: forwarded(1), timeout_s=30, what="the dead letter to be forwarded")

    # When the metadata leader is killed and another message is dead-lettered
    metadata.kill(await metadata.leader())
    second = await dead_letter(b"second")
    # Then the next metadata leader forwards it
    await eventually(lambda: forwarded(2), timeout_s=60, what="the next leader to forward")

    # And `orders-dlq` holds each exactly once, whole, naming its source
    received = await on_dlq.execute(
        ReceiveMessages(now_ms=0, queue=dlq.queue_id, max_messages=10, visibility_timeout_ms=60_000)
    )
    assert isinstance(received, ReceiveResult)
    assert sorted((m.message_id, m.body) for m in received.messages) == sorted(
        [(first, b"first"), (second, b"second")]
    )
    assert {m.dead_letter_source for m in received.messages} == {source.queue_id}
    for cluster in clusters.values():
        await cluster.converged()

"""How long an online queue move pauses a queue, by queue size, on this machine, fsync on.

Starts a metadata group and two backend clusters (nine processes, the harness of
tests/integration), fills a queue with N messages of 100 bytes (a tenth of them in flight, each
with a dedup record), moves it to the other cluster, and prints the records copied, the chunks,
the pause (fence to placement switch: the time the queue answers `QueueMoved`) and the whole
move's duration.

Run: python -m bench.queue_move_bench [--sizes 1000,10000,50000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.machine_info import describe
from raftq.common.commands import ReceiveMessages, SendEntry, SendMessages
from raftq.common.metadata_api import CreateQueueRequest, MoveQueueRequest
from tests.integration.cluster import Cluster, eventually


async def _fill(cluster: Cluster, queue_id: str, size: int) -> None:
    for start in range(0, size, 100):
        entries = tuple(
            SendEntry(entry_id=f"e{i}", body=b"x" * 100, dedup_id=f"m{start + i}")
            for i in range(min(100, size - start))
        )
        await cluster.client.execute(SendMessages(now_ms=0, queue=queue_id, entries=entries))
    for _ in range(size // 10 // 10):
        await cluster.client.execute(
            ReceiveMessages(
                now_ms=0, queue=queue_id, max_messages=10, visibility_timeout_ms=600_000
            )
        )


async def _leader_moves(metadata: Cluster, name: str) -> dict[str, Any] | None:
    for i in range(len(metadata.nodes)):
        found = await metadata.get_json(i, "/v1/moves")
        if found is not None:
            move: dict[str, Any] | None = found["moves"].get(name)
            return move
    return None


async def run(sizes: list[int]) -> None:
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with aiohttp.ClientSession() as session:
            (root / "metadata").mkdir()
            metadata = Cluster(root / "metadata", session, kind="metadata")
            registering = [a for n in metadata.nodes for a in ("--metadata", n.api_address)]
            clusters: dict[str, Cluster] = {}
            for cluster_id in ("c1", "c2"):
                (root / cluster_id).mkdir()
                clusters[cluster_id] = Cluster(
                    root / cluster_id,
                    session,
                    extra_args=("--cluster-id", cluster_id, *registering),
                )
            everything = [metadata, *clusters.values()]
            try:
                for cluster in everything:
                    cluster.start_all()
                for cluster in everything:
                    await cluster.leader(timeout_s=30)

                async def reporting() -> bool | None:
                    catalogue = await metadata.get_json(0, "/v1/catalogue")
                    found = catalogue["clusters"] if catalogue else []
                    return (
                        True
                        if len(found) == 2 and all(len(c["reports"]) == 3 for c in found)
                        else None
                    )

                await eventually(reporting, timeout_s=30, what="both clusters to report")
                client = metadata.metadata_client(timeout_s=60)
                print(
                    f"{'messages':>9} {'records':>8} {'chunks':>6} {'pause':>9} {'move':>9} "
                    f"{'export':>9} {'import':>9}"
                )
                for size in sizes:
                    name = f"bench-{size}"
                    created = await client.create_queue(
                        CreateQueueRequest(actor="bench", name=name)
                    )
                    source = created.queue.placement.cluster_id
                    target = "c2" if source == "c1" else "c1"
                    await _fill(clusters[source], created.queue.queue_id, size)
                    started = time.monotonic()
                    await client.move_queue(
                        MoveQueueRequest(actor="bench", name=name, target=target)
                    )

                    async def done(name: str = name) -> dict[str, Any] | None:
                        move = await _leader_moves(metadata, name)
                        return move if move is not None and move["phase"] == "done" else None

                    move = await eventually(done, timeout_s=600, what="the move to finish")
                    took = time.monotonic() - started
                    print(
                        f"{size:>9} {move['records']:>8} {move['chunks']:>6} "
                        f"{move['paused_s'] * 1000:>7.0f}ms {took * 1000:>7.0f}ms "
                        f"{move['export_s'] * 1000:>7.0f}ms {move['import_s'] * 1000:>7.0f}ms"
                    )
            finally:
                for cluster in everything:
                    cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    asyncio.run(run([int(size) for size in args.sizes.split(",")]))


if __name__ == "__main__":
    main()

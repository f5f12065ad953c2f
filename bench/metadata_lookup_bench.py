"""How fresh a metadata follower's lookups are, and what a lookup costs, on this machine.

Starts a three-node metadata group (the harness of tests/integration), then, one after another,
commits a queue on the leader and polls both followers' `GET /v1/queues/{name}` until the queue
shows there. Prints how long after the leader's acknowledgement each follower showed it
(p50/p99/max), and the latency of a lookup served by the leader and by a follower.

Run: python -m bench.metadata_lookup_bench [--queues 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.machine_info import describe
from raftq.common.metadata_commands import CreateQueue, RegisterCluster
from raftq.common.metadata_models import ClusterMember, Placement
from tests.integration.cluster import Cluster


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.2f} ms"


async def run(count: int) -> None:
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as session:
            group = Cluster(Path(tmp), session, kind="metadata")
            try:
                group.start_all()
                leader = await group.leader(timeout_s=30)
                followers = [i for i in range(3) if i != leader]
                client = group.metadata_client()
                member = ClusterMember(
                    node_id="b1", zone="a", raft_address="127.0.0.1:1", api_address="127.0.0.1:2"
                )
                await client.execute(
                    RegisterCluster(now_ms=0, actor="bench", cluster_id="c1", members=(member,))
                )
                lags: list[float] = []
                for n in range(count):
                    await client.execute(
                        CreateQueue(
                            now_ms=0,
                            actor="bench",
                            queue_id=f"id-{n}",
                            name=f"q-{n}",
                            placement=Placement(cluster_id="c1", epoch=1),
                        )
                    )
                    acknowledged = time.perf_counter()
                    for i in followers:
                        while await group.get_json(i, f"/v1/queues/q-{n}") is None:
                            pass
                        lags.append(time.perf_counter() - acknowledged)
                latency: dict[str, list[float]] = {"leader": [], "follower": []}
                for n in range(count):
                    for role, i in (("leader", leader), ("follower", followers[0])):
                        started = time.perf_counter()
                        assert await group.get_json(i, f"/v1/queues/q-{n}") is not None
                        latency[role].append(time.perf_counter() - started)
                print(
                    f"follower shows a committed queue after the leader acknowledged it: "
                    f"p50 {_ms(lags, 0.5)}, p99 {_ms(lags, 0.99)}, max {max(lags) * 1000:.2f} ms "
                    f"({len(lags)} observations)"
                )
                for role, values in latency.items():
                    print(
                        f"lookup served by the {role}: p50 {_ms(values, 0.5)}, "
                        f"p99 {_ms(values, 0.99)}, mean {statistics.fmean(values) * 1000:.2f} ms"
                    )
            finally:
                group.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.queues))


if __name__ == "__main__":
    main()

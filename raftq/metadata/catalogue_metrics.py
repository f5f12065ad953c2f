"""What the catalogue says about each queue, as a Prometheus info metric of a metadata node:
`raftq_queue_info{queue, cluster, dead_letter_queue, fifo} 1`. Backend nodes label their queue
series with the same names, so rules join on `queue`: "DLQ not empty" looks for queues that
some queue names as its dead-letter queue. Every member reports its own applied catalogue."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from raftq.metadata.node import MetadataNode


class CatalogueCollector(Collector):
    def __init__(self, node: MetadataNode) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        with self._node.machine.lock:
            queues = list(self._node.machine.machine.state.queues.values())
        info = GaugeMetricFamily(
            "raftq_queue_info",
            "1 for each queue of the catalogue: its cluster, its dead-letter queue (a name, or"
            " empty), whether it is FIFO",
            labels=["queue", "cluster", "dead_letter_queue", "fifo"],
        )
        for queue in queues:
            redrive = queue.attributes.redrive
            info.add_metric(
                [
                    queue.name,
                    queue.placement.cluster_id,
                    "" if redrive is None else redrive.dead_letter_queue,
                    "true" if queue.fifo else "false",
                ],
                1,
            )
        yield info

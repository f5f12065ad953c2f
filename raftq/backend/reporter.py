"""Tells the metadata group that this replica's cluster exists and how loaded it is.

Every member reports, not only the leader: the metadata group counts a cluster healthy while a
majority of its members report within its health window (metadata/placement.py). The metadata
leader keeps these reports in memory and writes one to its log only when the load changed
(metadata/liveness.py), so an idle cluster's reports write nothing. Registration is idempotent
and is repeated until it succeeds once; a failed report is logged and tried again after
`RETRY_AFTER_FAILURE_S`, a successful one after `report_interval_s`.

The member that leads its cluster also names the queues holding dead letters that wait for a
dead-letter queue on another cluster (`queues_with_dead_letters`): the metadata leader forwards
them (metadata/dead_letter_forwarder.py). Only the leader names them, as its state is the
latest: a follower's could name a queue whose dead letters were just forwarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final

import aiohttp

from raftq.backend.node import BackendNode
from raftq.common import limits
from raftq.common.errors import RaftqError
from raftq.common.metadata_api import MetadataClient
from raftq.common.metadata_commands import RegisterCluster, ReportLoad
from raftq.common.metadata_models import ClusterMember
from raftq.common.results import Failure, QueueStats

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S: Final = 1.0


def queues_with_dead_letters(depths: Mapping[str, QueueStats]) -> tuple[str, ...]:
    """The queues whose dead letters wait for a dead-letter queue elsewhere, those with the most
    first, as many as a report may name."""
    waiting = [queue_id for queue_id, stats in depths.items() if stats.dead_letter_pending]
    waiting.sort(key=lambda queue_id: (-depths[queue_id].dead_letter_pending, queue_id))
    return tuple(waiting[: limits.DEAD_LETTER_REPORT_MAX_QUEUES])


async def report_forever(node: BackendNode, session: aiohttp.ClientSession) -> None:
    settings = node.settings
    if settings.cluster_id is None or not settings.metadata:
        return
    secret = settings.cluster_secret.get_secret_value() if settings.cluster_secret else None
    client = MetadataClient(
        list(settings.metadata),
        secret,
        session,
        tls=settings.tls.client_context(),
        timeout_s=5,
    )
    members = tuple(
        ClusterMember(
            node_id=m.node_id, zone=m.zone, raft_address=m.raft_address, api_address=m.api_address
        )
        for m in settings.members
    )
    registered = False
    while True:
        try:
            if not registered:
                result = await client.execute(
                    RegisterCluster(
                        now_ms=0,
                        actor=settings.node_id,
                        cluster_id=settings.cluster_id,
                        members=members,
                    )
                )
                if isinstance(result, Failure):
                    raise result.to_error()
                registered = True
            depths = node.machine.depths()
            messages = sum(
                d.visible + d.in_flight + d.delayed + d.dead_letter_pending for d in depths.values()
            )
            await client.execute(
                ReportLoad(
                    now_ms=0,
                    actor=settings.node_id,
                    cluster_id=settings.cluster_id,
                    node_id=settings.node_id,
                    messages=messages,
                    queues=len(depths),
                    dead_letter_queues=(
                        queues_with_dead_letters(depths) if node.raft.is_leader else ()
                    ),
                )
            )
            pause_s = settings.report_interval_s
        except RaftqError as error:
            log.info(
                "could not report to the metadata group: %s",
                error,
                extra={"event": "report_failed", "error": error},
            )
            # Soon again: the metadata group may be electing, and placement (and `raftq up`)
            # wait for this member's first report.
            pause_s = min(settings.report_interval_s, RETRY_AFTER_FAILURE_S)
        await asyncio.sleep(pause_s)

"""Clients of the backend clusters the catalogue names, for the metadata leader's protocols
(queue_lifecycle.py, queue_move.py)."""

from __future__ import annotations

import aiohttp

from raftq.common import commands as backend
from raftq.common.backend_client import BackendClient
from raftq.common.errors import ClusterNotFound
from raftq.common.results import CommandResult, Failure
from raftq.metadata.node import MetadataNode


class Backends:
    def __init__(self, node: MetadataNode, session: aiohttp.ClientSession) -> None:
        self._node = node
        self._session = session
        secret = node.settings.cluster_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._tls = node.settings.tls.client_context()  # the backends serve TLS when it is set
        self._clients: dict[str, BackendClient] = {}

    def client(self, cluster_id: str) -> BackendClient:
        """A client of the cluster (kept, so it remembers the cluster's leader)."""
        cluster = self._node.machine.machine.state.clusters.get(cluster_id)
        if cluster is None:
            raise ClusterNotFound(f"no backend cluster {cluster_id!r}", field="cluster_id")
        addresses = [member.api_address for member in cluster.members]
        client = self._clients.get(cluster_id)
        if client is None or client.members != addresses:
            client = BackendClient(addresses, self._secret, self._session, tls=self._tls)
            self._clients[cluster_id] = client
        return client

    async def run(self, cluster_id: str, command: backend.AnyCommand) -> CommandResult:
        """Execute `command` on the cluster's leader; a failure result is raised as its error."""
        result = await self.client(cluster_id).execute(command)
        if isinstance(result, Failure):
            raise result.to_error()
        return result

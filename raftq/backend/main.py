"""`raftq backend`: run one backend replica until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import raftq
from raftq.backend.api import channel_handler, create_app
from raftq.backend.frontend_secrets import FrontendSecrets
from raftq.backend.node import BackendNode
from raftq.common import limits, tracing
from raftq.common.channel.server import ChannelServer, FixedSecret, SecretSource
from raftq.common.channel.site import SharedPortSite
from raftq.common.clock import clock_from_environment
from raftq.common.metadata_api import MetadataClient
from raftq.common.settings import BackendNodeSettings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def frontend_secrets(settings: BackendNodeSettings) -> AsyncIterator[SecretSource]:
    """Who may open the data channel: frontends whose credential the metadata group knows
    (asked with the cluster secret); anyone in the insecure development mode; nobody on a node
    that knows no metadata group."""
    if settings.cluster_secret is None:
        yield FixedSecret(b"" if settings.insecure_development_mode else None)
        return
    if not settings.metadata:
        log.warning(
            "no --metadata: no frontend can be verified, the data channel refuses all",
            extra={"event": "channel_closed_to_all"},
        )
        yield FixedSecret(None)
        return
    async with aiohttp.ClientSession() as session:
        metadata = MetadataClient(
            list(settings.metadata),
            settings.cluster_secret.get_secret_value(),
            session,
            tls=settings.tls.client_context(),
            timeout_s=3,
        )
        yield FrontendSecrets(metadata.lookup_frontend)


async def recheck_frontends(channel: ChannelServer) -> None:
    """Closes revoked frontends' open connections within FRONTEND_CREDENTIAL_CACHE_S."""
    while True:
        await asyncio.sleep(limits.FRONTEND_CREDENTIAL_CACHE_S)
        if dropped := await channel.revalidate():
            log.warning(
                "closed %d channel connection(s) of revoked frontends",
                dropped,
                extra={"event": "revoked_frontends_dropped"},
            )


async def serve(settings: BackendNodeSettings) -> None:
    async with frontend_secrets(settings) as secrets:
        await _serve(settings, secrets)


async def _serve(settings: BackendNodeSettings, secrets: SecretSource) -> None:
    node = BackendNode(settings, clock_from_environment())
    runner = web.AppRunner(create_app(node, secrets), handle_signals=False, access_log=None)
    await runner.setup()
    host, port = settings.me.api_address.rsplit(":", 1)
    channel = ChannelServer(
        secrets,
        channel_handler(node),
        max_frame_bytes=settings.max_request_bytes,
        command_level=settings.max_command_level,
    )
    rechecking = asyncio.create_task(recheck_frontends(channel))
    tls = settings.tls.server_context()
    site = SharedPortSite(runner, host, int(port), channel, ssl_context=tls)
    await site.start()
    logging.getLogger(__name__).info(
        "raftq %s backend %s serving on %s%s (raft %s)",
        raftq.__version__,
        settings.node_id,
        settings.me.api_address,
        " with TLS" if tls is not None else "",
        settings.me.raft_address,
        extra={"event": "started"},
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    rechecking.cancel()
    await channel.close()
    await runner.cleanup()


def run(settings: BackendNodeSettings) -> None:
    tracing.configure("raftq-backend")  # off unless OTEL_* variables ask (docs/tracing.md)
    asyncio.run(serve(settings))

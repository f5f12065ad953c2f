"""`raftq frontend …`: run one frontend process (stateless; run as many as you like)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from pydantic import ValidationError

import raftq
from raftq.common import internal_tls, log_setup, tracing
from raftq.common.clock import SystemClock
from raftq.common.envelope import Keyring
from raftq.common.errors import AccessKeyNotFound
from raftq.common.metadata_api import KeyCredentials, MetadataClient
from raftq.common.metadata_models import Cluster, Queue
from raftq.common.settings import read_secret
from raftq.frontend.app import create_app, metrics_app
from raftq.frontend.caches import KeyCache, PlacementCache, QueueRoute
from raftq.frontend.edge import FRONTEND
from raftq.frontend.forwarding import Forwarder
from raftq.frontend.rate_limit import Limit
from raftq.frontend.service import Frontend
from raftq.frontend.settings import FrontendSettings
from raftq.frontend.usage import Usage

CREDENTIAL_ENV = "RAFTQ_FRONTEND_CREDENTIAL"
log = logging.getLogger(__name__)
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


def add_frontend_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    frontend = commands.add_parser("frontend", help="run one frontend (the public REST API)")
    frontend.add_argument("--listen", required=True, help="HOST:PORT to serve on")
    frontend.add_argument(
        "--metadata", action="append", required=True, help="a metadata API address"
    )
    frontend.add_argument(
        "--credential-file",
        type=Path,
        help="this frontend's own credential, ID:SECRET as `raftq admin frontends create NAME` "
        f"prints it (or {CREDENTIAL_ENV})",
    )
    frontend.add_argument(
        "--master-key",
        action="append",
        required=True,
        metavar="ID=FILE",
        help="a master key (64 hex digits in FILE); repeat to keep old keys during a rotation",
    )
    frontend.add_argument("--current-master-key", help="the key id that wraps new data keys")
    frontend.add_argument(
        "--key-rate",
        type=float,
        default=FrontendSettings.model_fields["per_key"].default.rate_per_s,
        help="messages per second each access key may send, receive or delete (this frontend); "
        "0: no limit",
    )
    frontend.add_argument(
        "--queue-rate",
        type=float,
        default=FrontendSettings.model_fields["per_queue"].default.rate_per_s,
        help="messages per second per queue (this frontend); 0: no limit",
    )
    frontend.add_argument(
        "--batch-max", type=int, default=10, help="entries a send batch may hold (up to 100)"
    )
    frontend.add_argument("--usage-log", type=Path, help="append usage records (JSON lines) here")
    frontend.add_argument(
        "--usage-log-max-bytes",
        type=int,
        default=FrontendSettings.model_fields["usage_log_max_bytes"].default,
        help="rotate the usage log at this size (0: never; give each frontend its own file)",
    )
    frontend.add_argument(
        "--usage-log-backups",
        type=int,
        default=FrontendSettings.model_fields["usage_log_backups"].default,
        help="rotated usage logs kept (FILE.1 the newest)",
    )
    frontend.add_argument("--metrics-listen", help="HOST:PORT for /metrics (keep it private)")
    frontend.add_argument(
        "--tls-cert", type=Path, help="serve the public API with HTTPS: this certificate (PEM)"
    )
    frontend.add_argument("--tls-key", type=Path, help="and this private key (PEM)")
    internal_tls.add_tls_options(frontend, serves=False)
    log_setup.add_log_options(frontend)


def run_frontend_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    keys: dict[str, str] = {}
    for spec in args.master_key:
        key_id, _, path = spec.partition("=")
        if not key_id or not path:
            parser.exit(2, "raftq frontend: --master-key takes ID=FILE\n")
        keys[key_id] = Path(path).read_text().strip()
    try:
        settings = FrontendSettings(
            listen=args.listen,
            metadata=tuple(args.metadata),
            credential=read_secret(args.credential_file, CREDENTIAL_ENV) or "",
            master_keys=keys,
            current_master_key=args.current_master_key or next(iter(keys)),
            per_key=_limit(parser, "--key-rate", args.key_rate),
            per_queue=_limit(parser, "--queue-rate", args.queue_rate),
            usage_log=args.usage_log,
            usage_log_max_bytes=args.usage_log_max_bytes,
            usage_log_backups=args.usage_log_backups,
            batch_max=args.batch_max,
            metrics_listen=args.metrics_listen,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            internal_tls=internal_tls.tls_from_args(args),
        )
        settings.internal_tls.load()
        logging_settings = log_setup.settings_from_args(args)
        log_setup.configure(logging_settings, process="frontend", node=_node_name(settings))
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(map(str, first["loc"]))
        parser.exit(2, f"raftq frontend: {message}{f' ({where})' if where else ''}\n")
    except (internal_tls.TlsFilesError, ValueError) as error:
        parser.exit(2, f"raftq frontend: {error}\n")
    host, _, port = settings.listen.rpartition(":")
    tls = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as error:
            parser.exit(2, f"raftq frontend: cannot load the TLS certificate and key: {error}\n")
    # The per-request access log cost 1.5% of the frontend's CPU under load and grows without
    # bound; usage records and metrics say who did what. `--log-level DEBUG` brings it back.
    access_log = logging.getLogger("aiohttp.access") if logging_settings.level == "DEBUG" else None
    # A client that disconnects cancels its handler (aiohttp >= 3.9 does not unless asked), and so
    # its channel request: the backend ends its long poll, drops its unproposed command and gives
    # back what a receive leased for it (common/channel/client.py). Handlers are safe to cancel:
    # shared work runs in tasks of its own (coalesced commands, key lookups, shielded), and a
    # cancelled call releases its circuit breaker's probe.
    tracing.configure("raftq-frontend")  # off unless OTEL_* variables ask (docs/tracing.md)
    web.run_app(
        build_app(settings),
        host=host,
        port=int(port),
        ssl_context=tls,
        print=None,
        access_log=access_log,
        handler_cancellation=True,
    )
    return 0


def _node_name(settings: FrontendSettings) -> str:
    """A frontend is named in logs by its credential's id, as the nodes know it; by its
    address when it has none (the insecure development mode)."""
    try:
        return settings.own_credential().caller.frontend_id or settings.listen
    except ValueError:
        return settings.listen


def _limit(parser: argparse.ArgumentParser, flag: str, rate_per_s: float) -> Limit:
    try:
        return Limit.per_second(rate_per_s)
    except ValueError as error:  # a rate that cannot work
        parser.exit(2, f"raftq frontend: {flag}: {error} (0 means no limit)\n")


def build_app(settings: FrontendSettings) -> web.Application:
    """The app, with its metadata and backend connections opened and closed with it."""
    clock = SystemClock()
    usage = Usage(
        settings.usage_log,
        max_bytes=settings.usage_log_max_bytes,
        backups=settings.usage_log_backups,
    )

    async def connections(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            tls = settings.internal_tls.client_context()
            metadata = MetadataClient(
                list(settings.metadata),
                settings.own_credential(),
                session,
                tls=tls,
                timeout_s=settings.metadata_timeout_s,
            )

            async def fetch_key(key_id: str) -> KeyCredentials | None:
                try:
                    return await metadata.lookup_key(key_id)
                except AccessKeyNotFound:
                    return None

            async def fetch_route(name: str) -> QueueRoute | None:
                if not _QUEUE_NAME.fullmatch(name):
                    return None
                found = await metadata.get(f"/v1/queues/{name}")
                if found is None or found.get("cluster") is None:
                    return None
                queue = Queue.model_validate_json(json.dumps(found["queue"]))
                cluster = Cluster.model_validate_json(json.dumps(found["cluster"]))
                return QueueRoute(queue, cluster)

            keyring = Keyring(settings.master_key_bytes(), settings.current_master_key)
            forwarder = Forwarder(
                PlacementCache(fetch_route, clock),
                metadata,
                keyring=keyring,
                credential=settings.own_credential(),
                max_frame_bytes=settings.max_body_bytes * (settings.batch_max + 1),
                clock=clock,
                backend_timeout_s=settings.backend_timeout_s,
                on_join=usage.joined.inc,
                tls=tls,
            )
            frontend = app[FRONTEND] = Frontend(
                settings,
                keys=KeyCache(fetch_key, clock),
                forwarder=forwarder,
                metadata=metadata,
                clock=clock,
                usage=usage,
            )
            log.info(
                "raftq %s frontend serving on %s%s (metrics: %s)",
                raftq.__version__,
                settings.listen,
                " with TLS" if settings.tls_cert is not None else "",
                settings.metrics_listen or "off",
                extra={"event": "started"},
            )
            yield
            await frontend.close()
            await forwarder.close()
            usage.close()

    app = create_app(settings, connections)
    if settings.metrics_listen is not None:
        host, _, port = settings.metrics_listen.rpartition(":")

        async def metrics_site(app: web.Application) -> AsyncIterator[None]:
            runner = web.AppRunner(metrics_app(usage))
            await runner.setup()
            await web.TCPSite(runner, host, int(port)).start()
            yield
            await runner.cleanup()

        app.cleanup_ctx.append(metrics_site)
    return app

"""`raftq up`: a whole local raftq on loopback in one command.

It starts three metadata nodes (zones a, b, c), one backend cluster `c1` of three nodes (zones
a, b, c) and a frontend under a supervisor that restarts a child that dies, keeps everything
under `--data-dir`, and stops every child on Ctrl-C or SIGTERM. The first start chooses the
ports (from `--base-port`), makes the secrets and master keys (files readable by the owner
only) and records the layout in `<data-dir>/layout.json`; later starts reuse all of it, so the
same Raft groups come back with their data. Each plane has its own credential: `raft.secret` for
Raft traffic and `secret` (the cluster secret) for the nodes' internal HTTP requests among
themselves, both given to the metadata and backend nodes only; `operator.secret` for
`raftq admin`; `frontend.credential`, the frontend's own credential, which the metadata group
issues (signed with the operator secret) before the frontend is started, and which opens only
the routes a frontend needs and the data channel to backends.
The first time the cluster is ready it makes a
`root` principal with every grant on every queue and an access key for it (kept in `root.json`,
owner only). Then it prints the endpoint and writes `<data-dir>/client.env`
(shell-sourceable): the REST endpoint and root credentials (`RAFTQ_*`, and the `AWS_*` names
boto3 and the AWS CLI read), and `RAFTQ_METADATA`/`RAFTQ_OPERATOR_SECRET` for `raftq admin`;
never the cluster or raft secret, which nothing but the nodes needs. Everything listens on
loopback, and internal HTTP and the data channel are plain (no `--tls-cert-file`:
common/internal_tls.py); Raft is encrypted under the raft secret as everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any, Final

import aiohttp

from raftq.client.admin_frontends import write_private
from raftq.client.supervisor import Supervisor
from raftq.client.up_layout import (
    DEFAULT_BASE_PORT,
    FRONTEND,
    FRONTEND_CREDENTIAL_FILE,
    MAX_CLUSTERS,
    OPERATOR_SECRET_FILE,
    RAFT_SECRET_FILE,
    FrontendOptions,
    backend_addresses,
    children,
    cluster_ids,
    frontend_address,
    metadata_addresses,
    ports,
    ports_used,
)
from raftq.client.up_state import STATE_FILE, PortInUse, check_ports, exclusive
from raftq.common.credentials import OPERATOR, Credential
from raftq.common.errors import ConflictingState, RaftqError
from raftq.common.metadata_api import CreateFrontendRequest, CreateKeyRequest, MetadataClient
from raftq.common.metadata_commands import AddGrant, CreatePrincipal, RevokeFrontend
from raftq.common.metadata_models import Grant

__all__ = ["FrontendOptions", "add_up_command", "backend_addresses", "children", "run_up"]

READY_TIMEOUT_S: Final = 60.0
# The supervisor sleeps until something happens (see `_serve`); this bounds the sleep anyway.
_SAFETY_POLL_S: Final = 10.0
FRONTEND_NAME: Final = "frontend-1"  # its name in the metadata group (`raftq admin frontends`)


def add_up_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "run a whole local raftq (metadata group, backend clusters, frontend)"
    up = commands.add_parser("up", help=text, description=text)
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path("raftq-data"),
        help="where the data, secrets, logs and client.env live (default: %(default)s)",
    )
    up.add_argument(
        "--host", default="127.0.0.1", help="the loopback address to bind (default: %(default)s)"
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"first of {ports_used(1)} ports, 6 more per extra cluster (default: %(default)s)",
    )
    up.add_argument(
        "--clusters",
        type=int,
        choices=range(1, MAX_CLUSTERS + 1),
        default=None,
        metavar="N",
        help="backend clusters of three nodes, c1..cN (default: 1, or what the data dir has); "
        "a second one lets `raftq admin queues move` and `clusters drain` work locally",
    )
    up.add_argument(
        "--rate-limit-per-key",
        type=_rate,
        metavar="N",
        help="messages per second each access key may move through the frontend (0: no limit; "
        "default: the frontend's)",
    )
    up.add_argument(
        "--rate-limit-per-queue",
        type=_rate,
        metavar="N",
        help="messages per second per queue (0: no limit; default: the frontend's)",
    )
    up.add_argument(
        "--usage-log",
        action="store_true",
        help="write usage records to <data-dir>/usage.log (rotated by size; off by default)",
    )


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (rate >= 0 and math.isfinite(rate)):
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or a positive rate, not {text}")
    return rate


def run_up(args: argparse.Namespace) -> int:
    """The data dir's lock is held before anything else, so that what follows (the port check,
    the announcement) is about this supervisor's own cluster: a port in use means another
    program, never this data dir's nodes."""
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(data_dir) as locked:
        if not locked:
            print(
                f"raftq up: already running on {data_dir} (`raftq status`, `raftq down`)",
                file=sys.stderr,
            )
            return 2
        try:
            layout = _layout(data_dir, args.host, args.base_port, args.clusters)
            check_ports(layout["host"], ports(layout))
        except (ValueError, PortInUse) as error:
            print(f"raftq up: {error}", file=sys.stderr)
            return 2
        options = FrontendOptions(
            rate_limit_per_key=args.rate_limit_per_key,
            rate_limit_per_queue=args.rate_limit_per_queue,
            usage_log=args.usage_log,
        )
        supervisor = Supervisor(children(data_dir, layout, options), data_dir / STATE_FILE)
        return asyncio.run(_serve(supervisor, data_dir, layout))


def _layout(
    data_dir: Path, host: str, base_port: int, clusters: int | None = None
) -> dict[str, Any]:
    # Also in data made before Raft or operators had a secret of their own (every member
    # restarts with `raftq up`, so they all change to it together). A `channel.secret` of data
    # made before frontends had credentials is no longer read.
    for name in (RAFT_SECRET_FILE, OPERATOR_SECRET_FILE):
        if not (data_dir / name).exists():
            _private(data_dir / name, secrets.token_urlsafe(32))
    path = data_dir / "layout.json"
    if path.exists():
        layout: dict[str, Any] = json.loads(path.read_text())
        if (layout["host"], layout["base_port"]) != (host, base_port):
            raise ValueError(
                f"{data_dir} was made with --host {layout['host']} --base-port "
                f"{layout['base_port']}; its Raft groups need the same addresses"
            )
        had = int(layout.get("clusters", 1))
        if clusters is not None and clusters < had:
            raise ValueError(
                f"{data_dir} has {had} backend clusters; --clusters {clusters} would leave "
                f"queues without their replicas (drain and remove a cluster first)"
            )
        if clusters is not None and clusters > had:  # a new cluster joins the same catalogue
            _check_base_port(base_port, clusters)
            layout["clusters"] = clusters
            path.write_text(json.dumps(layout))
        return layout
    clusters = clusters or 1
    _check_base_port(base_port, clusters)
    _private(data_dir / "secret", secrets.token_urlsafe(32))
    _private(data_dir / "master.key", secrets.token_hex(32))
    _private(data_dir / "frontend.key", secrets.token_hex(32))
    layout = {"host": host, "base_port": base_port, "clusters": clusters}
    path.write_text(json.dumps(layout))
    return layout


def _check_base_port(base_port: int, clusters: int) -> None:
    if not 1024 <= base_port <= 65535 - ports_used(clusters):
        raise ValueError(f"--base-port must leave room for {ports_used(clusters)} ports")


_private = write_private


async def _serve(supervisor: Supervisor, data_dir: Path, layout: dict[str, Any]) -> int:
    """Wakes on work only: a signal to stop, a child's exit (SIGCHLD), readiness, or a delayed
    restart falling due; `_SAFETY_POLL_S` bounds the sleep all the same."""
    stopping = asyncio.Event()
    woken = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        stopping.set()
        woken.set()

    # SIGHUP: the terminal closed; the nodes (in sessions of their own) go down with us
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop)
    loop.add_signal_handler(signal.SIGCHLD, woken.set)
    supervisor.start(deferred=(FRONTEND,))  # once it has its credential (`_wait_until_ready`)
    ready = asyncio.create_task(_wait_until_ready(data_dir, layout, supervisor))
    ready.add_done_callback(lambda _: woken.set())
    announced = False
    try:
        while not stopping.is_set():
            woken.clear()  # before looking: an exit from now on wakes the next wait
            supervisor.poll()
            for exit_ in supervisor.exits:
                said = f": {exit_.last_line}" if exit_.last_line else ""
                print(
                    f"raftq up: {exit_.name} exited with status {exit_.returncode}; restarting it "
                    f"in {exit_.restart_in_s:g} s (longer while it keeps exiting){said}",
                    file=sys.stderr,
                    flush=True,
                )
            supervisor.exits.clear()
            if ready.done() and not announced:
                if (error := ready.exception()) is not None:
                    print(f"raftq up: not ready: {error}", file=sys.stderr)
                    return 1
                _announce(data_dir, layout)
                announced = True
            restart_in = supervisor.next_restart_in()
            timeout = _SAFETY_POLL_S if restart_in is None else min(restart_in, _SAFETY_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=timeout)
        return 0
    finally:
        ready.cancel()
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            print("raftq up: stopping", file=sys.stderr, flush=True)
        supervisor.stop()


async def _wait_until_ready(data_dir: Path, layout: dict[str, Any], supervisor: Supervisor) -> None:
    """Ready: the metadata group has a leader, cluster c1's three nodes reported to it, the
    frontend has its credential and answers, and the root credentials exist."""
    secret = (data_dir / OPERATOR_SECRET_FILE).read_text().strip()
    operator = Credential(OPERATOR, secret.encode())
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        metadata = MetadataClient(metadata_addresses(layout), operator, session, timeout_s=5)
        while time.monotonic() < deadline:
            with contextlib.suppress(RaftqError, aiohttp.ClientError, TimeoutError):
                catalogue = await metadata.get("/v1/catalogue")
                reported = {
                    cluster["cluster_id"]: len(cluster["reports"])
                    for cluster in (catalogue["clusters"] if catalogue else [])
                }
                if all(reported.get(c) == 3 for c in cluster_ids(layout)):
                    await _frontend_credential(data_dir, metadata)
                    supervisor.start_deferred(FRONTEND)
                    async with session.get(f"http://{frontend_address(layout)}/healthz") as answer:
                        if answer.status == 200:
                            await _root_credentials(data_dir, metadata)
                            return
            await asyncio.sleep(0.25)
    raise TimeoutError(f"the cluster was not ready within {READY_TIMEOUT_S:g} s")


async def _frontend_credential(data_dir: Path, metadata: MetadataClient) -> None:
    """The frontend's own credential, issued on the first start (kept in
    `frontend.credential`, owner only). Data made before frontends had credentials gets one;
    a lost file's credential is revoked and replaced."""
    path = data_dir / FRONTEND_CREDENTIAL_FILE
    if path.exists():
        return
    request = CreateFrontendRequest(actor="raftq-up", name=FRONTEND_NAME)
    try:
        created = await metadata.create_frontend(request)
    except ConflictingState:  # the file was lost: its credential cannot be read back
        await metadata.execute(RevokeFrontend(now_ms=0, actor="raftq-up", name=FRONTEND_NAME))
        created = await metadata.create_frontend(request)
    _private(path, created.credential)


async def _root_credentials(data_dir: Path, metadata: MetadataClient) -> dict[str, str]:
    """The root principal's key, made on the first start (every step is idempotent but the
    key's creation, which happens only when `root.json` does not exist yet)."""
    path = data_dir / "root.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    await metadata.execute(CreatePrincipal(now_ms=0, actor="raftq-up", principal_id="root"))
    grant = Grant(principal_id="root", queues="*", actions=("send", "receive", "delete", "admin"))
    await metadata.execute(AddGrant(now_ms=0, actor="raftq-up", grant=grant))
    created = await metadata.create_key(CreateKeyRequest(actor="raftq-up", principal_id="root"))
    credentials = {"key_id": created.key_id, "secret": created.secret}
    _private(path, json.dumps(credentials))
    return credentials


def _announce(data_dir: Path, layout: dict[str, Any]) -> None:
    secret = (data_dir / OPERATOR_SECRET_FILE).read_text().strip()
    root = json.loads((data_dir / "root.json").read_text())
    endpoint = f"http://{frontend_address(layout)}"
    lines = [
        f"RAFTQ_ENDPOINT={endpoint}",
        f"RAFTQ_ACCESS_KEY_ID={root['key_id']}",
        f"RAFTQ_SECRET_ACCESS_KEY={root['secret']}",
        f"AWS_ENDPOINT_URL_SQS={endpoint}",
        f"AWS_ACCESS_KEY_ID={root['key_id']}",
        f"AWS_SECRET_ACCESS_KEY={root['secret']}",
        "AWS_DEFAULT_REGION=us-east-1",
        f"RAFTQ_FRONTEND_METRICS=http://{layout['host']}:{layout['base_port'] + 13}/metrics",
        f"RAFTQ_METADATA={','.join(metadata_addresses(layout))}",
        f"RAFTQ_OPERATOR_SECRET={secret}",
    ]
    env_path = data_dir / "client.env"
    env_path.unlink(missing_ok=True)
    _private(env_path, "\n".join(f"export {line}" for line in lines))
    again = f"raftq up --data-dir {data_dir}"
    if layout["base_port"] != DEFAULT_BASE_PORT:
        again += f" --base-port {layout['base_port']}"
    print(
        f"raftq is up at {endpoint} (3 metadata nodes, {_clusters_text(layout)}, 1 frontend); "
        f"data in {data_dir}\n"
        f"  root access key: {root['key_id']} (secret in {env_path})\n"
        f"  source {env_path}   # then: raftq admin queues create orders\n"
        f"Ctrl-C (or `raftq down --data-dir {data_dir}`) stops it; the next `{again}` brings "
        "it back with its data.",
        flush=True,
    )


def _clusters_text(layout: dict[str, Any]) -> str:
    ids = cluster_ids(layout)
    if len(ids) == 1:
        return "backend cluster c1 of 3"
    return f"backend clusters {', '.join(ids)} of 3 each"

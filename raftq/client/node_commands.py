"""`raftq backend …` and `raftq metadata …`: parse the flags of one Raft node and run it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import ValidationError

from raftq.common import internal_tls, limits, log_setup
from raftq.common.command_levels import CODE_LEVEL, MAX_COMMAND_LEVEL_ENV
from raftq.common.settings import (
    BackendNodeSettings,
    Member,
    MetadataNodeSettings,
    NodeSettings,
    RaftTimings,
    read_secret,
)

SECRET_ENV = "RAFTQ_CLUSTER_SECRET"
RAFT_SECRET_ENV = "RAFTQ_RAFT_SECRET"
OPERATOR_SECRET_ENV = "RAFTQ_OPERATOR_SECRET"
# Chaos deployments only: any value but empty turns on `--witness-syncs` (deploy/compose/.env).
WITNESS_SYNCS_ENV = "RAFTQ_FAULT_WITNESS_SYNCS"


def _member(text: str) -> Member:
    parts = text.split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("a member is NODE_ID,ZONE,RAFT_HOST:PORT,API_HOST:PORT")
    node_id, zone, raft_address, api_address = parts
    try:
        return Member(
            node_id=node_id, zone=zone, raft_address=raft_address, api_address=api_address
        )
    except ValidationError as error:
        raise argparse.ArgumentTypeError(str(error.errors()[0]["msg"])) from None


NODE_KINDS = {
    "backend": "run one backend replica (a member of a queue cluster's Raft group)",
    "metadata": "run one metadata node (a member of the catalogue's Raft group)",
}


def add_node_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for kind, description in NODE_KINDS.items():
        parser = commands.add_parser(kind, help=description, description=description)
        _add_node_command(parser, kind)


def _add_node_command(backend: argparse.ArgumentParser, kind: str) -> None:
    """The flags of one kind of node: `raftq backend --help` lists no metadata-only flag, and
    the other way round (an unknown flag is a usage error, exit status 2)."""
    backend.add_argument("--node-id", required=True, help="this node's id, one of the members")
    backend.add_argument(
        "--data-dir", type=Path, required=True, help="where this node keeps its Raft log and state"
    )
    backend.add_argument(
        "--member",
        type=_member,
        action="append",
        required=True,
        help="NODE_ID,ZONE,RAFT_HOST:PORT,API_HOST:PORT (repeat for every member, self included)",
    )
    backend.add_argument(
        "--secret-file",
        type=Path,
        help="file holding the cluster secret, which signs the nodes' internal HTTP requests "
        f"among themselves; nodes only (or set {SECRET_ENV})",
    )
    backend.add_argument(
        "--operator-secret-file",
        type=Path,
        help="file holding the operator secret, which `raftq admin` signs with "
        f"(or set {OPERATOR_SECRET_ENV}); without it no operator is accepted",
    )
    backend.add_argument(
        "--raft-secret-file",
        type=Path,
        help="file holding the raft secret, which only the group's members hold: it authenticates "
        f"and encrypts Raft traffic (or set {RAFT_SECRET_ENV})",
    )
    internal_tls.add_tls_options(backend, serves=True)
    backend.add_argument(
        "--insecure-development-mode",
        action="store_true",
        help="run without a cluster or raft secret: the internal API and Raft are then "
        "unauthenticated",
    )
    log_setup.add_log_options(backend)
    if kind == "backend":
        backend.add_argument("--cluster-id", help="the id of this replica's cluster")
        backend.add_argument(
            "--metadata",
            action="append",
            default=[],
            help="a metadata node's API address to register with (repeat; default: none)",
        )
    else:
        backend.add_argument(
            "--master-key-file",
            type=Path,
            help="file of 64 hex digits that seal access-key secrets",
        )
    backend.add_argument(
        "--compaction-min-entries",
        type=int,
        default=RaftTimings().compaction_min_entries,
        help="snapshot the state once the Raft log holds this many entries (default: %(default)s)",
    )
    backend.add_argument(
        "--compaction-min-time-s",
        type=float,
        default=RaftTimings().compaction_min_time_s,
        help="or once this long has passed since the last snapshot (default: %(default)s)",
    )
    backend.add_argument(
        "--compaction-min-log-bytes",
        type=int,
        default=RaftTimings().compaction_min_log_bytes,
        help="or once the Raft log file holds this many bytes (default: %(default)s)",
    )
    if kind == "backend":
        backend.add_argument(
            "--due-transitions-per-entry",
            type=int,
            default=limits.DUE_TRANSITIONS_PER_ENTRY,
            help="the most due transitions (delays, leases and retention ending) one Raft entry "
            "makes; the same on every member of a cluster. Larger figures let a mass transition "
            "stall heartbeats and cause elections (default: %(default)s)",
        )
    backend.add_argument(
        "--join",
        action="store_true",
        help="this node is a new member of a running group (added with `raftq admin members "
        "add`): until it hears from the group's leader it starts no election. Ignored once its "
        "data directory holds a Raft log",
    )
    backend.add_argument(
        "--max-command-level",
        type=int,
        default=os.environ.get(MAX_COMMAND_LEVEL_ENV, CODE_LEVEL),
        help="run at this older command level, as the release that had it: the newest Raft "
        "entry format it applies and advertises, and its channel version (or set "
        f"{MAX_COMMAND_LEVEL_ENV}; for upgrade testing; default: this release's, %(default)s)",
    )
    # Test switches (see RaftSettings): not for production.
    backend.add_argument("--witness-syncs", action="store_true", help=argparse.SUPPRESS)
    backend.add_argument("--unsafe-no-fsync", action="store_true", help=argparse.SUPPRESS)


def run_node_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    secret = os.environ.get(SECRET_ENV)
    if args.secret_file is not None:
        secret = args.secret_file.read_text().strip()
    try:
        extra: dict[str, object] = (
            {
                "cluster_id": args.cluster_id,
                "metadata": tuple(args.metadata),
                "due_transitions_per_entry": args.due_transitions_per_entry,
            }
            if args.command == "backend"
            else {"master_key": args.master_key_file.read_text().strip()}
            if args.master_key_file is not None
            else {}
        )
        settings_type: type[NodeSettings] = (
            BackendNodeSettings if args.command == "backend" else MetadataNodeSettings
        )
        settings = settings_type(
            **extra,
            node_id=args.node_id,
            data_dir=args.data_dir,
            members=tuple(args.member),
            cluster_secret=secret,
            raft_secret=read_secret(args.raft_secret_file, RAFT_SECRET_ENV),
            operator_secret=read_secret(args.operator_secret_file, OPERATOR_SECRET_ENV),
            insecure_development_mode=args.insecure_development_mode,
            tls=internal_tls.tls_from_args(args),
            witness_syncs=args.witness_syncs or bool(os.environ.get(WITNESS_SYNCS_ENV)),
            fsync=not args.unsafe_no_fsync,
            join=args.join,
            max_command_level=args.max_command_level,
            timings=RaftTimings(
                compaction_min_entries=args.compaction_min_entries,
                compaction_min_time_s=args.compaction_min_time_s,
                compaction_min_log_bytes=args.compaction_min_log_bytes,
            ),
        )
        settings.tls.load()
        log_setup.configure(
            log_setup.settings_from_args(args), process=args.command, node=settings.node_id
        )
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(map(str, first["loc"]))
        parser.exit(2, f"raftq {args.command}: {message}{f' ({where})' if where else ''}\n")
    except (internal_tls.TlsFilesError, ValueError) as error:
        parser.exit(2, f"raftq {args.command}: {error}\n")
    # Imported here so that other commands do not load pysyncobj and the node's dependencies.
    if isinstance(settings, BackendNodeSettings):
        from raftq.backend.main import run as run_backend  # noqa: PLC0415

        run_backend(settings)
    elif isinstance(settings, MetadataNodeSettings):
        from raftq.metadata.main import run as run_metadata  # noqa: PLC0415

        run_metadata(settings)
    return 0

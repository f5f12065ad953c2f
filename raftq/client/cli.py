"""The `raftq` command line.

- `raftq demo`: the queue state machine on a real RocksDB store, narrated.
- `raftq backend`: run one backend replica (a member of a three-node Raft group).
- `raftq metadata`: run one metadata node (a member of the catalogue's Raft group).
- `raftq admin`: manage the catalogue (see raftq/client/admin.py).
- `raftq frontend`: run one frontend, the public REST and SQS APIs (raftq/frontend/app.py).
- `raftq up`: a whole local raftq under a supervisor (raftq/client/up.py).
- `raftq send|receive|delete|stats`: use a queue through the REST API (data_commands.py).
- `raftq worker MODULE:REGISTRY --queue Q`: run task handlers (raftq/worker/command.py).

The client imports no server package at module level: a server's modules load only inside the
command that runs it, so the data commands and the SDK never load the frontend, backend or
metadata code (tests/unit/client/test_imports.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from raftq.client.admin import add_admin_command, run_admin_command
from raftq.client.data_commands import DATA_COMMANDS, add_data_commands, run_data_command
from raftq.client.node_commands import NODE_KINDS, add_node_commands, run_node_command
from raftq.client.up import add_up_command, run_up
from raftq.worker.command import add_worker_command, run_worker_command

# The help of `raftq frontend` as `raftq --help` lists it (the command's own parser is the
# frontend's, loaded only when the command line names it).
FRONTEND_HELP: Final = "run one frontend (the public REST API)"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="raftq", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the queue state machine on RocksDB and narrate it")
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the store here")
    add_node_commands(commands)
    add_admin_command(commands)
    add_up_command(commands)
    if arguments[:1] == ["frontend"]:
        from raftq.frontend.main import add_frontend_command  # noqa: PLC0415

        add_frontend_command(commands)
    else:
        commands.add_parser("frontend", help=FRONTEND_HELP)
    add_data_commands(commands)
    add_worker_command(commands)
    args = parser.parse_args(arguments)
    if args.command in DATA_COMMANDS:
        return run_data_command(args)
    if args.command == "frontend":
        from raftq.frontend.main import run_frontend_command  # noqa: PLC0415

        return run_frontend_command(args, parser)
    if args.command == "worker":
        return run_worker_command(args)
    if args.command == "up":
        return run_up(args)
    if args.command == "admin":
        return run_admin_command(args)
    if args.command in NODE_KINDS:
        return run_node_command(args, parser)
    if args.command == "demo":
        from raftq.client.demo import run_demo  # noqa: PLC0415  (it runs a backend store)

        if args.data_dir is not None:
            run_demo(args.data_dir, sys.stdout)
        else:
            with tempfile.TemporaryDirectory(prefix="raftq-demo-") as scratch:
                run_demo(Path(scratch), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

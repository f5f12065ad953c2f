"""The `raftq` command line.

- `raftq demo`: the queue state machine on a real RocksDB store, narrated.
- `raftq backend`: run one backend replica (a member of a three-node Raft group).
- `raftq metadata`: run one metadata node (a member of the catalogue's Raft group).
- `raftq admin`: manage the catalogue (see raftq/client/admin.py).
- `raftq frontend`: run one frontend, the public REST and SQS APIs (raftq/frontend/app.py).
- `raftq up|status|down`: a whole local raftq under a supervisor (raftq/client/up.py,
  up_state.py).
- `raftq send|receive|delete|stats|queues`: use queues through the REST API (data_commands.py).
- `raftq worker MODULE:REGISTRY --queue Q`: run task handlers (raftq/worker/command.py).

A command's module is imported only when the command line names that command: `raftq --help`,
`raftq --version` and a light command never load aiohttp, pydantic or RocksDB
(tests/unit/client/test_cli_start.py). The client imports no server package at module level
either, so the data commands and the SDK never load the frontend, backend or metadata code
(tests/unit/client/test_imports.py). Ctrl-C ends any command with status 130 and no traceback,
and a closed stdout (`raftq receive … | head -1`) ends it quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

EXIT_INTERRUPTED: Final = 130
EXIT_NOT_INSTALLED: Final = 2
# The packages of the extras (pyproject.toml): a command whose module needs one that is missing
# says which extra to install, instead of a traceback. `pip install raftq` alone serves the SDK
# and the data commands (send, receive, delete, stats, queues); `raftq worker` needs `[worker]`,
# every other command `[server]`.
_EXTRA_PACKAGES: Final = frozenset(
    {
        "pydantic",
        "opentelemetry",
        "pysyncobj",
        "rocksdict",
        "msgpack",
        "sortedcontainers",
        "cryptography",
        "prometheus_client",
    }
)


class MissingExtra(Exception):
    """Raised when a command's module needs a package of an extra that is not installed."""


@dataclass(frozen=True)
class Command:
    """A command as `raftq --help` lists it, and where its parser and runner live (a module
    path and the names of its `add(commands)` and `run(args[, parser])` functions)."""

    help: str
    module: str
    add: str
    run: str
    run_takes_parser: bool = False


_DATA = ("raftq.client.data_commands", "add_data_commands", "run_data_command")
_UP_STATE = "raftq.client.up_state"
COMMANDS: Final[dict[str, Command]] = {
    "demo": Command("run the queue state machine on RocksDB and narrate it", __name__, "", ""),
    "backend": Command(
        "run one backend replica (a member of a queue cluster's Raft group)",
        "raftq.client.node_commands",
        "add_node_commands",
        "run_node_command",
        run_takes_parser=True,
    ),
    "metadata": Command(
        "run one metadata node (a member of the catalogue's Raft group)",
        "raftq.client.node_commands",
        "add_node_commands",
        "run_node_command",
        run_takes_parser=True,
    ),
    "admin": Command(
        "manage queues, clusters, principals, keys, grants",
        "raftq.client.admin",
        "add_admin_command",
        "run_admin_command",
    ),
    "up": Command(
        "run a whole local raftq (metadata group, backend clusters, frontend)",
        "raftq.client.up",
        "add_up_command",
        "run_up",
    ),
    "status": Command(
        "show whether `raftq up` runs on a data directory, and its nodes",
        _UP_STATE,
        "add_state_commands",
        "run_status",
    ),
    "down": Command(
        "stop the `raftq up` running on a data directory (and any node it left)",
        _UP_STATE,
        "add_state_commands",
        "run_down",
    ),
    "frontend": Command(
        "run one frontend (the public REST API)",
        "raftq.frontend.main",
        "add_frontend_command",
        "run_frontend_command",
        run_takes_parser=True,
    ),
    "send": Command("send a message to a queue", *_DATA),
    "receive": Command("receive messages (and optionally delete them)", *_DATA),
    "delete": Command("delete a message by its receipt handle", *_DATA),
    "stats": Command("a queue's attributes and exact counts", *_DATA),
    "queues": Command("create, list, purge or delete queues with an access key", *_DATA),
    "worker": Command(
        "run task handlers on a queue's tasks",
        "raftq.worker.command",
        "add_worker_command",
        "run_worker_command",
    ),
}


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default when it has one that says something (not
    None, False or an empty list) and the text does not give it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        default = action.default
        if (
            text
            and "default" not in text
            and action.option_strings
            and default not in (None, False, [], argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """The parser of `raftq` and, as argparse makes sub-parsers of the parent's class, of every
    command under it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)


def version() -> str:
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415
    from importlib.metadata import version as installed  # noqa: PLC0415

    try:
        return installed("raftq")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser(named: str | None) -> argparse.ArgumentParser:
    """Every command listed; only `named`'s module loaded, and its parser (or parsers: one
    module may add several commands) complete."""
    parser = _Parser(prog="raftq", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"raftq {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = COMMANDS.get(named or "")
    if chosen is not None and chosen.module != __name__:
        getattr(_load(named or "", chosen.module), chosen.add)(commands)
    for name, command in COMMANDS.items():
        if name in commands.choices:
            continue
        sub = commands.add_parser(name, help=command.help, description=command.help)
        if name == "demo":
            sub.add_argument(
                "--data-dir",
                type=Path,
                default=None,
                help="keep the store here (default: a temporary directory, removed after)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "RAFTQ_SUPERVISOR_PID" in os.environ:  # a child of `raftq up`: it dies with it
        from raftq.client.supervisor import die_with_parent  # noqa: PLC0415

        die_with_parent()
    try:
        try:
            return _main(arguments)
        finally:  # also after `--help` (SystemExit): a closed pipe shows here, not at exit
            sys.stdout.flush()
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except MissingExtra as missing:
        print(f"raftq: {missing}", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    except BrokenPipeError:
        # the reader went away (`| head`): nothing more to say, and nothing to say it to
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(arguments: list[str]) -> int:
    named = next((a for a in arguments if not a.startswith("-")), None)
    parser = _parser(named)
    args = parser.parse_args(arguments)
    if args.command == "demo":
        return _demo(args)
    command = COMMANDS[args.command]
    run: Callable[..., int] = getattr(_load(args.command, command.module), command.run)
    extra: tuple[Any, ...] = (parser,) if command.run_takes_parser else ()
    return run(args, *extra)


def _load(command: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _EXTRA_PACKAGES:
            raise
        extra = "worker" if command == "worker" else "server"
        raise MissingExtra(
            f"`raftq {command}` needs raftq's {extra} packages ({error.name} is not installed): "
            f"pip install 'raftq[{extra}]'"
        ) from None


def _demo(args: argparse.Namespace) -> int:
    from raftq.client.demo import run_demo  # noqa: PLC0415  (it runs a backend store)

    if args.data_dir is not None:
        run_demo(args.data_dir, sys.stdout)
    else:
        with tempfile.TemporaryDirectory(prefix="raftq-demo-") as scratch:
            run_demo(Path(scratch), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

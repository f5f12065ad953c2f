"""`raftq send|receive|delete|stats|queues`: use queues from the shell, through the REST API,
with an ordinary access key (`raftq admin` is the operators' side, on the metadata group).

Credentials come from the environment (`RAFTQ_ENDPOINT`, `RAFTQ_ACCESS_KEY_ID`,
`RAFTQ_SECRET_ACCESS_KEY`; `source raftq-data/client.env` after `raftq up`). Output is JSON, one
object per line, written as it comes (`receive --follow` runs until Ctrl-C). Exit codes: 0
done, 1 refused (one line on stderr says why), 3 unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from raftq.client.sdk import Client, RaftqApiError

EXIT_REFUSED, EXIT_UNREACHABLE = 1, 3
DATA_COMMANDS = ("send", "receive", "delete", "stats", "queues")
FOLLOW_WAIT_S: Final = 20  # the longest long poll the API allows


def add_data_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = commands.add_parser(
        "send",
        help="send a message to a queue",
        description="Send one message: BODY, or the contents of --file, or stdin when neither "
        "is given (`echo hi | raftq send orders`).",
    )
    send.add_argument("queue", help="the queue's name")
    send.add_argument("body", nargs="?", help="the message body (default: --file, or stdin)")
    send.add_argument(
        "--file", type=Path, help="send this file's contents as the body ('-': stdin)"
    )
    send.add_argument("--idempotency-key", help="a retry with the same key is sent once")
    send.add_argument("--group-id", help="the message group (FIFO queues)")
    send.add_argument("--delay-s", type=int, help="seconds before it can be received")
    receive = commands.add_parser("receive", help="receive messages (and optionally delete them)")
    receive.add_argument("queue", help="the queue's name")
    receive.add_argument(
        "--max", type=int, default=10, help="messages per receive, 1..10 (default: %(default)s)"
    )
    receive.add_argument(
        "--wait-s",
        type=int,
        default=None,
        help=f"long-poll up to this many seconds (default: 0, or {FOLLOW_WAIT_S} with --follow)",
    )
    receive.add_argument(
        "--visibility-timeout-s", type=int, help="hide them this long (default: the queue's)"
    )
    receive.add_argument("--delete", action="store_true", help="delete what was received")
    receive.add_argument(
        "--follow", action="store_true", help="keep receiving, printing each message as it comes"
    )
    delete = commands.add_parser("delete", help="delete a message by its receipt handle")
    delete.add_argument("queue", help="the queue's name")
    delete.add_argument("receipt_handle", help="as `raftq receive` printed it")
    stats = commands.add_parser("stats", help="a queue's attributes and exact counts")
    stats.add_argument("queue", help="the queue's name")
    queues = commands.add_parser(
        "queues", help="create, list, purge or delete queues with an access key"
    )
    verbs = queues.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="create a queue (its URL and attributes back)")
    create.add_argument("name", help="the queue's name (FIFO names end in .fifo)")
    create.add_argument("--fifo", action="store_true", help="a FIFO queue")
    create.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an attribute, e.g. visibility_timeout_s=60 (repeat; values are JSON or text)",
    )
    listed = verbs.add_parser("list", help="the queues the key may see")
    listed.add_argument("--prefix", default="", help="only names starting with it")
    purge = verbs.add_parser("purge", help="delete every message of a queue")
    purge.add_argument("name", help="the queue's name")
    drop = verbs.add_parser("delete", help="delete a queue and its messages")
    drop.add_argument("name", help="the queue's name")


def run_data_command(args: argparse.Namespace) -> int:
    try:
        body = _body(args) if args.command == "send" else None
        attributes = _attributes(args) if getattr(args, "verb", None) == "create" else {}
        client = Client.from_env()
    except (ValueError, OSError) as error:
        print(f"raftq {args.command}: {error}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        for line in _run(client, args, body, attributes):
            print(json.dumps(line, sort_keys=True), flush=True)
    except RaftqApiError as error:
        print(f"raftq {args.command}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE if error.status == 0 or error.status >= 500 else EXIT_REFUSED
    finally:
        client.close()
    return 0


def _body(args: argparse.Namespace) -> str | bytes:
    """BODY, else --file's bytes, else stdin's; text when it is UTF-8."""
    if args.body is not None and args.file is not None:
        raise ValueError("give the body or --file, not both")
    if args.body is not None:
        return str(args.body)
    if args.file is None or str(args.file) == "-":
        data = sys.stdin.buffer.read()
    else:
        data = args.file.read_bytes()
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _attributes(args: argparse.Namespace) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for item in args.attribute:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise ValueError(f"--attribute {item!r}: give NAME=VALUE")
        try:
            attributes[name] = json.loads(text)
        except ValueError:
            attributes[name] = text
    return attributes


def _run(
    client: Client, args: argparse.Namespace, body: str | bytes | None, attributes: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    if args.command == "send":
        assert body is not None
        options: dict[str, Any] = {
            "idempotency_key": args.idempotency_key,
            "group_id": args.group_id,
        }
        if args.delay_s is not None:
            options["delay_s"] = args.delay_s
        yield client.send(args.queue, body, **options)
    elif args.command == "receive":
        yield from _receive(client, args)
    elif args.command == "delete":
        client.delete(args.queue, args.receipt_handle)
        yield {"deleted": args.receipt_handle}
    elif args.command == "stats":
        yield client.get_queue(args.queue)
    elif args.verb == "create":
        yield client.create_queue(args.name, fifo=args.fifo, **attributes)
    elif args.verb == "list":
        yield from client.list_queues(args.prefix)
    elif args.verb == "purge":
        client.purge(args.name)
        yield {"purged": args.name}
    else:
        client.delete_queue(args.name)
        yield {"deleted": args.name}


def _receive(client: Client, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    wait_s = args.wait_s if args.wait_s is not None else FOLLOW_WAIT_S if args.follow else 0
    while True:
        messages = client.receive(
            args.queue,
            max_messages=args.max,
            wait_s=wait_s,
            visibility_timeout_s=args.visibility_timeout_s,
        )
        for message in messages:
            yield {k: v for k, v in asdict(message).items() if k != "body_bytes"}
        if args.delete and messages:
            client.delete_batch(args.queue, [m.receipt_handle for m in messages])
        if not args.follow:
            return

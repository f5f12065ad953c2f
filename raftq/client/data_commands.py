"""`raftq send|receive|delete|stats`: use a queue from the shell, through the REST API.

Credentials come from the environment (`RAFTQ_ENDPOINT`, `RAFTQ_ACCESS_KEY_ID`,
`RAFTQ_SECRET_ACCESS_KEY`; `source raftq-data/client.env` after `raftq up`). Output is JSON, one
object per line. Exit codes: 0 done, 1 refused (one line on stderr says why), 3 unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from raftq.client.sdk import Client, RaftqApiError

EXIT_REFUSED, EXIT_UNREACHABLE = 1, 3
DATA_COMMANDS = ("send", "receive", "delete", "stats")


def add_data_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = commands.add_parser("send", help="send a message to a queue")
    send.add_argument("queue")
    send.add_argument("body")
    send.add_argument("--idempotency-key")
    send.add_argument("--group-id")
    send.add_argument("--delay-s", type=int)
    receive = commands.add_parser("receive", help="receive messages (and optionally delete them)")
    receive.add_argument("queue")
    receive.add_argument("--max", type=int, default=10)
    receive.add_argument("--wait-s", type=int, default=0)
    receive.add_argument("--visibility-timeout-s", type=int)
    receive.add_argument("--delete", action="store_true", help="delete what was received")
    delete = commands.add_parser("delete", help="delete a message by its receipt handle")
    delete.add_argument("queue")
    delete.add_argument("receipt_handle")
    stats = commands.add_parser("stats", help="a queue's attributes and exact counts")
    stats.add_argument("queue")


def run_data_command(args: argparse.Namespace) -> int:
    try:
        client = Client.from_env()
    except ValueError as error:
        print(f"raftq {args.command}: {error}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        for line in _run(client, args):
            print(json.dumps(line, sort_keys=True))
    except RaftqApiError as error:
        print(f"raftq {args.command}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE if error.status == 0 or error.status >= 500 else EXIT_REFUSED
    finally:
        client.close()
    return 0


def _run(client: Client, args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.command == "send":
        options: dict[str, Any] = {
            "idempotency_key": args.idempotency_key,
            "group_id": args.group_id,
        }
        if args.delay_s is not None:
            options["delay_s"] = args.delay_s
        return [client.send(args.queue, args.body, **options)]
    if args.command == "receive":
        messages = client.receive(
            args.queue,
            max_messages=args.max,
            wait_s=args.wait_s,
            visibility_timeout_s=args.visibility_timeout_s,
        )
        if args.delete and messages:
            client.delete_batch(args.queue, [m.receipt_handle for m in messages])
        return [{k: v for k, v in asdict(m).items() if k != "body_bytes"} for m in messages]
    if args.command == "delete":
        client.delete(args.queue, args.receipt_handle)
        return [{"deleted": args.receipt_handle}]
    return [client.get_queue(args.queue)]

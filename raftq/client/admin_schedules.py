"""`raftq admin schedules add|list|pause|resume|remove`: periodic tasks (issue 18).

Unlike the other admin areas, these go through the public REST API (`/v1/schedules`) with an
access key from the environment (`RAFTQ_ENDPOINT`, `RAFTQ_ACCESS_KEY_ID`,
`RAFTQ_SECRET_ACCESS_KEY`, as `raftq send`), not to the metadata group with the operator secret:
a schedule's task is sealed with its queue's data key, which only frontends hold, and a
schedule is its queue's business, so the key's grants decide (`send` on the queue).

Output is a table or a field list, or with `--json` the REST API's JSON; exit codes as
`raftq admin`: 0 done, 1 refused, 3 unreachable, 4 authentication failed (the key is unknown or
the secret is not its own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any
from urllib.parse import quote

from raftq.client import operations
from raftq.client.errors import RaftqApiError
from raftq.client.readable import NONE, duration_s, timestamp, yes_no
from raftq.client.sdk import AsyncClient
from raftq.client.tables import left, render_fields, render_table, right
from raftq.client.transport import Operation

EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_UNAUTHENTICATED = 1, 3, 4


def add_schedule_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedules = areas.add_parser(
        "schedules", help="periodic tasks (through the REST API, with RAFTQ_* key variables)"
    ).add_subparsers(dest="verb", required=True)
    add = schedules.add_parser("add", help="submit a task to QUEUE at each tick")
    add.add_argument("name", help="the schedule's name")
    add.add_argument("queue", help="the queue its tasks are submitted to")
    add.add_argument("type", help="the task's type, e.g. reports.build")
    timing = add.add_mutually_exclusive_group(required=True)
    timing.add_argument("--cron", help="'minute hour day-of-month month day-of-week', @daily...")
    timing.add_argument("--every-s", type=int, help="every N seconds")
    add.add_argument("--tz", default="UTC", help="IANA time zone of the cron (default UTC)")
    add.add_argument("--payload", default="null", help="the task's payload, as JSON")
    add.add_argument("--priority", type=int, default=0, help="the tasks' priority")
    add.add_argument("--max-attempts", type=int, help="attempts per task (default: the queue's)")
    add.add_argument(
        "--timeout-s", type=float, help="seconds a task may run (default: the queue's)"
    )
    schedules.add_parser("list")
    for verb in ("show", "pause", "resume", "remove"):
        schedules.add_parser(verb).add_argument("name", help="the schedule's name")


def run_schedules(args: argparse.Namespace) -> int:
    try:
        client = AsyncClient.from_env()
    except ValueError as error:
        print(f"raftq admin schedules: {error}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        output = asyncio.run(_run(client, args))
    except RaftqApiError as error:
        if error.status == 401:
            print(f"raftq admin schedules: authentication failed: {error}", file=sys.stderr)
            return EXIT_UNAUTHENTICATED
        print(f"raftq admin schedules: refused: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE if error.status in (0, 503) else EXIT_REFUSED
    except ValueError as error:
        print(f"raftq admin schedules: refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(output, indent=2, sort_keys=True))
    elif args.verb == "list":
        print(schedule_table(output))
    elif args.verb == "remove":
        print(f"schedule {args.name} removed")
    else:
        print(schedule_fields(output))
    return 0


def _timing(schedule: dict[str, Any]) -> str:
    if schedule.get("cron") is not None:
        return f"cron {schedule['cron']} ({schedule['tz']})"
    return f"every {duration_s(schedule['every_s'] * 1000)}"


def schedule_table(schedules: list[dict[str, Any]]) -> str:
    if not schedules:
        return "no schedules"
    return render_table(
        [left("NAME"), left("QUEUE"), left("TYPE"), left("TIMING"), left("NEXT TICK"),
         left("PAUSED"), right("FIRED")],
        [
            [s["name"], s["queue"], s["type"], _timing(s), timestamp(s["next_tick_ms"]),
             yes_no(s["paused"]), str(s["ticks_fired"])]
            for s in schedules
        ],
    )  # fmt: skip


def schedule_fields(schedule: dict[str, Any]) -> str:
    timeout_ms = round(schedule["timeout_s"] * 1000)
    return render_fields(
        [
            ("name", schedule["name"]),
            ("id", schedule["schedule_id"]),
            ("queue", schedule["queue"]),
            ("task type", schedule["type"]),
            ("timing", _timing(schedule)),
            ("paused", yes_no(schedule["paused"])),
            ("next tick", timestamp(schedule["next_tick_ms"])),
            ("last fired", timestamp(schedule.get("last_fired_tick_ms"))),
            ("ticks fired", str(schedule["ticks_fired"])),
            ("priority", str(schedule["priority"])),
            ("max attempts", str(schedule["max_attempts"])),
            ("task timeout", duration_s(timeout_ms)),
            ("owner", schedule.get("owner") or NONE),
            ("created", timestamp(schedule.get("created_at_ms"))),
        ]
    )


async def _run(client: AsyncClient, args: argparse.Namespace) -> Any:
    call = client._transport.call  # the signed REST call with the SDK's retries
    try:
        if args.verb == "list":
            answer = await call(operations.read("listing schedules"), "GET", "/v1/schedules")
            return answer["schedules"]
        if args.verb == "add":
            return await call(
                Operation(f"adding schedule {args.name!r}", idempotent=False),
                "POST",
                "/v1/schedules",
                _body(args),
            )
        path = f"/v1/schedules/{quote(args.name)}"
        if args.verb == "show":
            return await call(operations.read(f"reading schedule {args.name!r}"), "GET", path)
        if args.verb == "remove":
            what = Operation(f"removing schedule {args.name!r}", idempotent=True)
            await call(what, "DELETE", path)
            return {"name": args.name, "removed": True}
        # Pausing or resuming twice is the same as once.
        what = Operation(f"{args.verb[:-1]}ing schedule {args.name!r}", idempotent=True)
        return await call(what, "POST", f"{path}:{args.verb}")
    finally:
        await client.close()


def _body(args: argparse.Namespace) -> dict[str, Any]:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as error:
        raise ValueError(f"--payload is not JSON: {error}") from None
    body: dict[str, Any] = {
        "name": args.name,
        "queue": args.queue,
        "type": args.type,
        "payload": payload,
        "tz": args.tz,
        "priority": args.priority,
    }
    if args.cron is not None:
        body["cron"] = args.cron
    else:
        body["every_s"] = args.every_s
    if args.max_attempts is not None:
        body["max_attempts"] = args.max_attempts
    if args.timeout_s is not None:
        body["timeout_s"] = args.timeout_s
    return body

"""`raftq admin queues …` and `raftq admin clusters drain`: queues made, changed, moved and
deleted end to end through the metadata leader (metadata/queue_lifecycle.py, queue_move.py).

A move or a drain waits for its end unless `--no-wait`, printing progress lines to stderr (the
result goes to stdout, as for every command)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Protocol

from raftq.common.errors import ClientError, PeerError
from raftq.common.metadata_api import (
    MOVES_PATH,
    CreateQueueRequest,
    DeleteQueueRequest,
    MetadataClient,
    MoveQueueRequest,
    SetQueueRequest,
)
from raftq.common.metadata_commands import DrainCluster
from raftq.common.queue_attributes import QueueAttributeChanges, QueueAttributes
from raftq.common.results import Failure


class Admin(Protocol):
    """What these commands need of admin.py's session with the metadata group."""

    client: MetadataClient

    async def get(
        self, path: str, address: str | None = None, *, leader_only: bool = False
    ) -> dict[str, Any]: ...

    async def command(self, command: Any) -> Any: ...


_NAME = "the queue's name"


def add_queue_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queues = areas.add_parser("queues").add_subparsers(dest="verb", required=True)
    queues.add_parser("list")
    queues.add_parser("show").add_argument("name", help=_NAME)
    for verb in ("create", "set"):
        parser = queues.add_parser(verb)
        parser.add_argument("name", help=_NAME)
        if verb == "create":
            parser.add_argument(
                "--fifo", action="store_true", help="a FIFO queue (name ends in .fifo)"
            )
        parser.add_argument(
            "--visibility-timeout-s", type=int, help="how long a received message stays hidden"
        )
        parser.add_argument("--retention-s", type=int, help="how long a message is kept")
        parser.add_argument("--delay-s", type=int, help="delay of every new message")
        parser.add_argument(
            "--dedup-window-s", type=int, help="FIFO: how long a deduplication id is remembered"
        )
        parser.add_argument(
            "--content-based-dedup", choices=["on", "off"], help="FIFO: deduplicate by body"
        )
        parser.add_argument(
            "--dead-letter-queue", help="where messages go after --max-receive-count receives"
        )
        parser.add_argument(
            "--max-receive-count",
            type=int,
            default=10,
            help="receives before a message moves to the dead-letter queue",
        )
        if verb == "set":
            parser.add_argument(
                "--no-dead-letter-queue", action="store_true", help="remove the dead-letter queue"
            )
    queues.add_parser("delete").add_argument("name", help=_NAME)
    move = queues.add_parser("move", help="move a queue to another backend cluster, online")
    move.add_argument("name", help=_NAME)
    move.add_argument("--to", dest="target", help="target cluster (default: least loaded)")
    add_wait_flags(move)


def add_wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="start, do not wait for the end")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="how long to wait")


def _attribute_values(args: argparse.Namespace) -> dict[str, Any]:
    """The attributes the flags name, in the units of QueueAttributes."""
    values: dict[str, Any] = {}
    for flag, field, scale in [
        ("visibility_timeout_s", "visibility_timeout_ms", 1000),
        ("retention_s", "retention_ms", 1000),
        ("delay_s", "delay_ms", 1000),
        ("dedup_window_s", "dedup_window_ms", 1000),
    ]:
        if getattr(args, flag) is not None:
            values[field] = getattr(args, flag) * scale
    if args.content_based_dedup is not None:
        values["content_based_dedup"] = args.content_based_dedup == "on"
    if args.dead_letter_queue:
        values["redrive"] = {
            "dead_letter_queue": args.dead_letter_queue,
            "max_receive_count": args.max_receive_count,
        }
    return values


def _attributes(args: argparse.Namespace) -> QueueAttributes:
    return QueueAttributes.model_validate(_attribute_values(args))


def _changes(args: argparse.Namespace) -> QueueAttributeChanges:
    values = _attribute_values(args)
    if args.no_dead_letter_queue:
        values["clear_redrive"] = True
    if not values:
        raise ClientError("nothing to change: name at least one attribute flag")
    return QueueAttributeChanges.model_validate(values)


async def run_queues(admin: Admin, args: argparse.Namespace, verb: str, actor: str) -> Any:
    if verb == "list":
        catalogue = await admin.get("/v1/catalogue")
        return [queue_row(q) for q in catalogue["queues"]]
    if verb == "show":
        return (await admin.get(f"/v1/queues/{args.name}"))["queue"]
    if verb == "create":
        result = await admin.client.create_queue(
            CreateQueueRequest(
                actor=actor, name=args.name, fifo=args.fifo, attributes=_attributes(args)
            )
        )
        if isinstance(result, Failure):
            raise result.to_error()
        return queue_row(result.queue.model_dump(mode="json"))
    if verb == "set":
        result = await admin.client.set_queue(
            SetQueueRequest(actor=actor, name=args.name, changes=_changes(args))
        )
        if isinstance(result, Failure):
            raise result.to_error()
        return result.queue.model_dump(mode="json")
    if verb == "move":
        queue = await _start_move(admin, args.name, args.target, actor)
        if args.no_wait:
            return queue_row(queue)
        return queue_row(await _wait_for_move(admin, args.name, args.timeout_s))
    result = await admin.client.delete_queue(DeleteQueueRequest(actor=actor, name=args.name))
    if isinstance(result, Failure):
        raise result.to_error()
    return {"name": args.name, "deleted": True}


async def _start_move(admin: Admin, name: str, target: str | None, actor: str) -> dict[str, Any]:
    result = await admin.client.move_queue(MoveQueueRequest(actor=actor, name=name, target=target))
    if isinstance(result, Failure):
        raise result.to_error()
    queue: dict[str, Any] = result.queue.model_dump(mode="json")
    return queue


async def _wait_for_move(admin: Admin, name: str, timeout_s: float) -> dict[str, Any]:
    """Poll until the queue is active again; progress lines go to stderr."""
    deadline = time.monotonic() + timeout_s
    last_line = ""
    while True:
        found = await admin.get(f"/v1/queues/{name}", leader_only=True)
        queue: dict[str, Any] = found["queue"]
        if queue["lifecycle"] != "moving":
            placed = queue["placement"]
            line = f"{name}: on {placed['cluster_id']}, epoch {placed['epoch']}"
            finished = (await _moves(admin)).get(name)
            if finished is not None and finished["phase"] == "done":
                line += (
                    f" ({finished['records']} records copied; the queue paused for "
                    f"{finished['paused_s']} s)"
                )
            progress(line)
            return queue
        step = (await _moves(admin)).get(name)
        line = f"{name}: moving to {queue['move_target']}"
        if step is not None:
            line += f": {step['phase']}, {step['records']} records in {step['chunks']} chunks"
            if step["error"]:
                line += f" (attempt {step['attempts']} failed: {step['error']}; retrying)"
        if line != last_line:
            progress(line)
            last_line = line
        if time.monotonic() > deadline:
            raise PeerError(f"the move of {name} did not finish within {timeout_s:g} s; it goes on")
        await asyncio.sleep(0.2)


async def _moves(admin: Admin) -> dict[str, Any]:
    """The leader's move progress (empty if no leader answers: progress is optional)."""
    try:
        moves: dict[str, Any] = (await admin.get(MOVES_PATH))["moves"]
    except PeerError:
        return {}
    return moves


async def drain_cluster(admin: Admin, args: argparse.Namespace, actor: str) -> Any:
    """Mark the cluster draining (no new queues), then move every queue it holds away."""
    result = await admin.command(
        DrainCluster(now_ms=0, actor=actor, cluster_id=args.cluster_id, draining=not args.undo)
    )
    if args.undo:
        return cluster_row(result.cluster.model_dump(mode="json"))
    catalogue = await admin.get("/v1/catalogue", leader_only=True)
    held = sorted(
        q["name"]
        for q in catalogue["queues"]
        if q["placement"]["cluster_id"] == args.cluster_id and q["lifecycle"] != "deleting"
    )
    rows = []
    for number, name in enumerate(held, start=1):
        progress(f"draining {args.cluster_id}: queue {number}/{len(held)}: {name}")
        queue = await admin.get(f"/v1/queues/{name}", leader_only=True)
        if queue["queue"]["lifecycle"] != "moving":
            await _start_move(admin, name, None, actor)
        if not args.no_wait:
            rows.append(queue_row(await _wait_for_move(admin, name, args.timeout_s)))
    progress(f"draining {args.cluster_id}: {len(held)} queue(s) moved away")
    return rows or cluster_row(result.cluster.model_dump(mode="json"))


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def queue_row(queue: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": queue["name"],
        "queue_id": queue["queue_id"],
        "lifecycle": queue["lifecycle"],
        "cluster": queue["placement"]["cluster_id"],
        "epoch": queue["placement"]["epoch"],
        "fifo": queue["fifo"],
        "owner": queue["owner"],
    }


def cluster_row(cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "cluster_id": cluster["cluster_id"],
        "zones": ",".join(m["zone"] for m in cluster["members"]),
        "members": len(cluster["members"]),
        "reporting": len(cluster["reports"]),
        "draining": cluster["draining"],
    }

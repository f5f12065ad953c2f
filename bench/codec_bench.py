"""Encode+decode time of a batch of 100 send commands: msgpack vs JSON (pydantic's own).

Run: python -m bench.codec_bench
"""

from __future__ import annotations

import base64
import json
import os
import platform
import time
from collections.abc import Callable

import msgpack

from raftq.common.commands import CommandBatch, SendEntry, SendMessages


def sample_batch(body_bytes: int) -> CommandBatch:
    # Group commit of 100 concurrent single-message sends: 100 commands of one entry each.
    commands = tuple(
        SendMessages(
            now_ms=1_700_000_000_000 + i,
            queue="orders",
            entries=(
                SendEntry(
                    entry_id=f"e{i}",
                    body=os.urandom(body_bytes),
                    attributes=os.urandom(32),
                    dedup_id=f"dedup-{i}",
                    group_id="g1",
                ),
            ),
        )
        for i in range(100)
    )
    return CommandBatch(commands=commands)


def via_msgpack(batch: CommandBatch) -> CommandBatch:
    raw = msgpack.packb(batch.model_dump(mode="python"))
    return CommandBatch.model_validate(msgpack.unpackb(raw, use_list=False))


def via_json(batch: CommandBatch) -> CommandBatch:
    # Bodies are ciphertext: JSON must carry them as base64 text.
    data = batch.model_dump(mode="python")
    for command in data["commands"]:
        for entry in command["entries"]:
            entry["body"] = base64.b64encode(entry["body"]).decode()
            entry["attributes"] = base64.b64encode(entry["attributes"]).decode()
    raw = json.dumps(data).encode()
    decoded = json.loads(raw)
    for command in decoded["commands"]:
        for entry in command["entries"]:
            entry["body"] = base64.b64decode(entry["body"])
            entry["attributes"] = base64.b64decode(entry["attributes"])
        command["entries"] = tuple(command["entries"])
    decoded["commands"] = tuple(decoded["commands"])
    return CommandBatch.model_validate(decoded)


def size_msgpack(batch: CommandBatch) -> int:
    return len(msgpack.packb(batch.model_dump(mode="python")))


def time_it(fn: Callable[[CommandBatch], CommandBatch], batch: CommandBatch, rounds: int) -> float:
    assert fn(batch) == batch
    started = time.perf_counter()
    for _ in range(rounds):
        fn(batch)
    return (time.perf_counter() - started) / rounds


def main() -> None:
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, {platform.python_implementation()}"
        f" {platform.python_version()}, {platform.platform()}"
    )
    for body_bytes in (100, 10_240):
        batch = sample_batch(body_bytes)
        packed = time_it(via_msgpack, batch, 300)
        jsoned = time_it(via_json, batch, 300)
        print(
            f"100 commands x {body_bytes} B bodies: msgpack {packed * 1e3:.2f} ms "
            f"({size_msgpack(batch)} B), json+base64 {jsoned * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()

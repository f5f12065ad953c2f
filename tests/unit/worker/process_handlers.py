"""Handlers that run in processes of their own: module-level, so a child can import them."""

from __future__ import annotations

import time

from raftq.worker import Registry

tasks = Registry()


@tasks.handler("square", executor="process")
def square(payload: int) -> int:
    return payload * payload


@tasks.handler("sleepy", executor="process", timeout_s=5)
def sleepy(payload: float) -> None:
    time.sleep(payload)

"""Receives that ride along: a long poll's receive proposed in the entry that wakes it.

A long-polling receive that found nothing parks its command here while it waits (receives.py).
When the group committer takes commands that make messages of that queue visible at once (a
send without delay, a visibility change to 0, a task retry or release), it appends as many of
the queue's parked receives as those commands release messages to the same entry, after them.
Apply runs an entry's commands in order, so the receive sees the messages the entry just made
visible: from a send to its delivery is one commit instead of two (the send's, then the woken
receive's own).

A parked receive that an entry took answers with that command's result, which may be empty
(another receive of the entry, or a delay, left it nothing): the long poll then goes on. One not
taken is taken back (`unpark`) when its wait ends for another reason. Nothing here proposes:
riders wait for an entry that would be proposed anyway, so an idle queue costs nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque

from raftq.common.results import CommandResult

Rider = tuple[bytes, asyncio.Future[CommandResult]]


class Riders:
    def __init__(self) -> None:
        self._parked: dict[str, deque[Rider]] = {}

    def park(self, queue: str, command: bytes) -> asyncio.Future[CommandResult]:
        """Park the receive `command` of `queue`; its future holds its result once an entry
        took it."""
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._parked.setdefault(queue, deque()).append((command, future))
        return future

    def unpark(self, queue: str, future: asyncio.Future[CommandResult]) -> bool:
        """Take a parked receive back: True if it was still parked, False if an entry took it
        (its future then resolves with that entry's outcome)."""
        parked = self._parked.get(queue)
        if parked is None:
            return False
        for position, (_, waiting) in enumerate(parked):
            if waiting is future:
                del parked[position]
                if not parked:
                    del self._parked[queue]
                return True
        return False

    def take(self, queue: str, count: int) -> list[Rider]:
        """Up to `count` parked receives of `queue`, oldest first, for the entry being built;
        those whose callers gave up are dropped."""
        parked = self._parked.get(queue)
        taken: list[Rider] = []
        while parked and len(taken) < count:
            rider = parked.popleft()
            if not rider[1].done():
                taken.append(rider)
        if parked is not None and not parked:
            del self._parked[queue]
        return taken

    def fail_all(self, error: Exception) -> None:
        for parked in self._parked.values():
            for _, future in parked:
                if not future.done():
                    future.set_exception(error)
        self._parked.clear()

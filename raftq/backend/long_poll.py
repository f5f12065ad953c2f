"""Long-poll waiters on the leader: a receive that found nothing waits here until a commit made
messages visible in its queue, or until its own deadline.

Rules this class keeps:
- A commit that made n messages visible wakes at most n waiters of the queue, the longest
  waiting first (`notify`). A woken waiter that finds nothing (another took the messages) just
  waits again: the receive that tells it so writes no log entry (receives.py).
- No wake-up is lost. A receive reads `generation(queue)` before it looks at the queue; if a
  notify came after that, `wait` returns at once instead of sleeping past the messages. A waiter
  woken but cancelled before it could receive (its client went away) hands the wake-up on.
- `wake_all` ends every wait (leadership lost: the receives answer and the client asks the new
  leader).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class LongPollWaiters:
    def __init__(self) -> None:
        # Per queue, its waiters in arrival order (a dict as an ordered set: O(1) removal).
        self._waiting: defaultdict[str, dict[asyncio.Future[None], None]] = defaultdict(dict)
        self._generations: defaultdict[str, int] = defaultdict(int)
        self._someone_waits = asyncio.Event()

    def generation(self, queue: str) -> int:
        """Counts the notifies of `queue`; pass it to `wait` to learn of those that came since."""
        return self._generations[queue]

    def notify(self, queue: str, count: int) -> int:
        """Up to `count` messages became visible in `queue`: wake that many waiters at most.
        Returns how many were woken."""
        self._generations[queue] += 1
        waiting = self._waiting.get(queue)
        woken = 0
        while waiting and woken < count:
            future = next(iter(waiting))
            del waiting[future]
            if not future.done():
                future.set_result(None)
                woken += 1
        if waiting is not None and not waiting:
            self._drop(queue)
        return woken

    def wake_all(self) -> None:
        for queue in list(self._waiting):
            self.notify(queue, len(self._waiting[queue]))

    async def wait(self, queue: str, timeout_s: float, since_generation: int) -> bool:
        """Wait until woken (True) or `timeout_s` passed (False). Returns True at once if `queue`
        was notified after `since_generation` was read."""
        future = self.register(queue, since_generation)
        if future is None:
            return True
        try:
            done, _ = await asyncio.wait((future,), timeout=timeout_s)
        except asyncio.CancelledError:
            self.forget(queue, future, pass_on=True)
            raise
        self.forget(queue, future)
        return bool(done)

    def register(self, queue: str, since_generation: int) -> asyncio.Future[None] | None:
        """Join the waiters of `queue` now (in arrival order): the future is set when a notify
        wakes it. None if `queue` was notified after `since_generation` was read (woken at
        once). A registered future must be given back with `forget`."""
        if self._generations[queue] != since_generation:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[queue][future] = None
        self._someone_waits.set()
        return future

    def forget(self, queue: str, future: asyncio.Future[None], *, pass_on: bool = False) -> None:
        """Leave the waiters. With `pass_on` (the waiter is gone without receiving), a wake-up it
        got goes to the next waiter."""
        if pass_on and future.done() and not future.cancelled():
            self.notify(queue, 1)
        if not future.done():
            future.cancel()
        self._forget(queue, future)

    def _forget(self, queue: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(queue)
        if waiting is None:
            return
        waiting.pop(future, None)  # notify may have taken it already
        if not waiting:
            self._drop(queue)

    def _drop(self, queue: str) -> None:
        del self._waiting[queue]
        if not self._waiting:
            self._someone_waits.clear()

    async def someone_waits(self) -> None:
        """Returns once at least one receive waits (at once if one does now)."""
        await self._someone_waits.wait()

    @property
    def waiting(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())

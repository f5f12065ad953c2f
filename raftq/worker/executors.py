"""Running one attempt of a handler, with its time limit, on the executor its type chose.

- "async": a task on the worker's loop; over time it is cancelled.
- "thread": a daemon thread of its own (not a pool: an abandoned thread must not take a pool
  slot from later attempts); over time the attempt is reported and the thread is left to end
  on its own: Python cannot stop a thread. Its slot is freed, so a handler that never returns
  costs a thread, not capacity.
- "process": a process of its own, started by a forkserver (forking the worker itself, which
  has threads, could copy a held lock); over time it is terminated. The handler must be a
  module-level function, its payload, result and exceptions picklable.

The time limit is measured on the worker's clock, so tests move it by hand.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from raftq.common.errors import TaskTimedOut
from raftq.worker.api import WorkerClock
from raftq.worker.registry import HandlerSpec, TaskContext


@dataclass(frozen=True, slots=True)
class Returned:
    result: Any


@dataclass(frozen=True, slots=True)
class Raised:
    error: BaseException
    traceback: str | None = None  # the handler's, when it ran in another process


Ending = Returned | Raised


async def run_attempt(
    spec: HandlerSpec, payload: Any, context: TaskContext, clock: WorkerClock, timeout_s: float
) -> Ending:
    """Run the handler once. Cancelling this coroutine (a hard stop) cancels an async handler,
    terminates a process one and abandons a thread one."""
    arguments = (payload, context) if spec.takes_context else (payload,)
    if spec.executor == "async":
        work: asyncio.Future[Any] = asyncio.ensure_future(spec.function(*arguments))
    elif spec.executor == "thread":
        work = _in_thread(spec, arguments)
    else:
        return await _in_process(spec, arguments, clock, timeout_s)
    try:
        if not await _within(work, clock, timeout_s):
            work.cancel()  # an async handler stops; a thread's future only lets go
            return Raised(TaskTimedOut(f"{spec.type} ran longer than its {timeout_s:g} s"))
        return Returned(work.result())
    except asyncio.CancelledError:
        work.cancel()
        raise
    except Exception as error:  # any failure of the handler is the task's
        return Raised(error)


async def _within(work: asyncio.Future[Any], clock: WorkerClock, timeout_s: float) -> bool:
    """Wait for `work` or the timeout, whichever is first; True if the work ended."""
    timer = asyncio.ensure_future(clock.sleep(timeout_s))
    try:
        await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return work.done()


def _in_thread(spec: HandlerSpec, arguments: tuple[Any, ...]) -> asyncio.Future[Any]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # timed out or cancelled meanwhile: nobody waits for it
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def body() -> None:
        try:
            result = spec.function(*arguments)
        except BaseException as error:  # handed to the loop, not swallowed
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=body, name=f"raftq-task-{spec.type}", daemon=True).start()
    return future


def _process_main(spec_function: Any, arguments: tuple[Any, ...], sender: Connection) -> None:
    """In the child: run the handler and send ("ok", result) or ("error", exception, text)."""
    try:
        result = spec_function(*arguments)
    except BaseException as error:
        text = "".join(traceback.format_exception(error))
        try:
            sender.send(("error", error, text))
        except Exception:  # an exception that does not pickle
            sender.send(("error", RuntimeError(f"{type(error).__name__}: {error}"), text))
    else:
        sender.send(("ok", result))
    sender.close()


async def _in_process(
    spec: HandlerSpec, arguments: tuple[Any, ...], clock: WorkerClock, timeout_s: float
) -> Ending:
    context = multiprocessing.get_context("forkserver")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_process_main, args=(spec.function, arguments, sender), daemon=True
    )
    await asyncio.to_thread(process.start)
    sender.close()  # the child holds the other copy: EOF here means it is gone
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(receiver.fileno(), on_readable)
    try:
        if not await _within(readable, clock, timeout_s):
            return Raised(TaskTimedOut(f"{spec.type} ran longer than its {timeout_s:g} s"))
        try:
            message = receiver.recv()
        except EOFError:
            await asyncio.to_thread(process.join)
            return Raised(ChildProcessError(f"the handler's process died ({process.exitcode})"))
        if message[0] == "ok":
            return Returned(message[1])
        return Raised(message[1], message[2])
    finally:
        loop.remove_reader(receiver.fileno())
        receiver.close()
        if process.is_alive():  # over time, or a hard stop cancelled us
            process.terminate()
        await asyncio.shield(asyncio.to_thread(process.join, 5.0))

"""Joining concurrent batch commands of one queue into one command, and splitting the outcome."""

from __future__ import annotations

import asyncio

import pytest

from raftq.common.commands import (
    AnyCommand,
    DeleteEntry,
    DeleteMessages,
    ReceiveMessages,
    SendEntry,
    SendMessages,
)
from raftq.common.errors import OutcomeUnknown
from raftq.common.results import (
    BatchResult,
    CommandResult,
    EntryFailure,
    Failure,
    ReceiveResult,
    SendResult,
    SentMessage,
)
from raftq.frontend.coalescing import Coalescer


class Backend:
    """Answers each command after `release` is set: every entry sent, except bodies b"bad"."""

    def __init__(self, outcome: CommandResult | Exception | None = None) -> None:
        self.commands: list[AnyCommand] = []
        self.release = asyncio.Event()
        self.outcome = outcome

    async def execute(self, command: AnyCommand) -> CommandResult:
        self.commands.append(command)
        await self.release.wait()
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.outcome is not None:
            return self.outcome
        if isinstance(command, SendMessages):
            return SendResult(
                sent=tuple(
                    SentMessage(
                        entry_id=e.entry_id,
                        message_id=f"m-{e.body.decode()}",
                        sequence_number=n,
                        duplicate=False,
                    )
                    for n, e in enumerate(command.entries)
                    if e.body != b"bad"
                ),
                failed=tuple(
                    EntryFailure(entry_id=e.entry_id, code="InvalidMessageContents", message="bad")
                    for e in command.entries
                    if e.body == b"bad"
                ),
            )
        if isinstance(command, DeleteMessages):
            return BatchResult(succeeded=tuple(e.entry_id for e in command.entries), failed=())
        return ReceiveResult(messages=())


def send(queue: str, *bodies: str) -> SendMessages:
    entries = tuple(
        SendEntry(entry_id=f"e{n}", body=body.encode()) for n, body in enumerate(bodies)
    )
    return SendMessages(now_ms=0, queue=queue, entries=entries)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_request_alone_goes_at_once_and_unchanged() -> None:
    backend = Backend()
    backend.release.set()
    coalescer = Coalescer(backend.execute)
    command = send("q", "one")
    result = await coalescer.execute(command)
    assert backend.commands == [command]
    assert isinstance(result, SendResult)
    assert [m.entry_id for m in result.sent] == ["e0"]


async def test_requests_waiting_behind_busy_commands_leave_as_one() -> None:
    # Given a coalescer whose two command slots are taken
    backend = Backend()
    joins: list[int] = []
    coalescer = Coalescer(backend.execute, max_in_flight=2, on_join=joins.append)
    busy = [asyncio.create_task(coalescer.execute(send("q", f"busy{n}"))) for n in range(2)]
    await settle()
    # When three more requests come for the same queue
    waiting = [
        asyncio.create_task(coalescer.execute(send("q", "a1", "a2"))),
        asyncio.create_task(coalescer.execute(send("q", "b1"))),
        asyncio.create_task(coalescer.execute(send("q", "bad", "c2"))),
    ]
    await settle()
    backend.release.set()
    results = await asyncio.gather(*busy, *waiting)
    # Then they were sent as one command, entries in arrival order
    assert len(backend.commands) == 3
    joined = backend.commands[2]
    assert isinstance(joined, SendMessages)
    assert [e.body for e in joined.entries] == [b"a1", b"a2", b"b1", b"bad", b"c2"]
    # and each request got its own outcome under its own entry ids
    a, b, c = (r for r in results[2:] if isinstance(r, SendResult))
    assert [(m.entry_id, m.message_id) for m in a.sent] == [("e0", "m-a1"), ("e1", "m-a2")]
    assert [(m.entry_id, m.message_id) for m in b.sent] == [("e0", "m-b1")]
    assert [(m.entry_id, m.message_id) for m in c.sent] == [("e1", "m-c2")]
    assert [(f.entry_id, f.code) for f in c.failed] == [("e0", "InvalidMessageContents")]
    assert a.failed == () and b.failed == ()
    assert joins == [3]


async def test_a_failure_of_the_joined_command_is_every_request_s_failure() -> None:
    backend = Backend(Failure(code="QueueMoved", message="moved"))
    coalescer = Coalescer(backend.execute, max_in_flight=1)
    first = asyncio.create_task(coalescer.execute(send("q", "x")))
    await settle()
    joined = [asyncio.create_task(coalescer.execute(send("q", str(n)))) for n in range(3)]
    await settle()
    backend.release.set()
    outcomes = await asyncio.gather(first, *joined)
    assert all(isinstance(o, Failure) and o.code == "QueueMoved" for o in outcomes)
    assert len(backend.commands) == 2


async def test_an_unknown_outcome_is_raised_to_every_joined_request() -> None:
    backend = Backend(OutcomeUnknown("lost"))
    coalescer = Coalescer(backend.execute, max_in_flight=1)
    first = asyncio.create_task(coalescer.execute(send("q", "x")))
    await settle()
    joined = [asyncio.create_task(coalescer.execute(send("q", str(n)))) for n in range(2)]
    await settle()
    backend.release.set()
    outcomes = await asyncio.gather(first, *joined, return_exceptions=True)
    assert all(isinstance(o, OutcomeUnknown) for o in outcomes)


async def test_other_queues_kinds_and_receives_are_not_joined() -> None:
    backend = Backend()
    coalescer = Coalescer(backend.execute, max_in_flight=1)
    first = asyncio.create_task(coalescer.execute(send("q", "x")))
    await settle()
    delete = DeleteMessages(
        now_ms=0, queue="q", entries=(DeleteEntry(entry_id="d", receipt_handle="h" * 20),)
    )
    others = [
        asyncio.create_task(coalescer.execute(send("other", "y"))),
        asyncio.create_task(coalescer.execute(delete)),
        asyncio.create_task(coalescer.execute(ReceiveMessages(now_ms=0, queue="q"))),
    ]
    await settle()
    assert len(backend.commands) == 4  # each went at once: no lane of theirs was busy
    backend.release.set()
    await asyncio.gather(first, *others)


async def test_a_joined_command_holds_at_most_max_entries() -> None:
    backend = Backend()
    coalescer = Coalescer(backend.execute, max_in_flight=1, max_entries=4)
    first = asyncio.create_task(coalescer.execute(send("q", "x")))
    await settle()
    waiting = [asyncio.create_task(coalescer.execute(send("q", "a", "b"))) for _ in range(3)]
    await settle()
    backend.release.set()
    await asyncio.gather(first, *waiting)
    sizes = [len(c.entries) for c in backend.commands if isinstance(c, SendMessages)]
    assert sizes == [1, 4, 2]


async def test_deletes_are_split_back_by_entry() -> None:
    backend = Backend()
    coalescer = Coalescer(backend.execute, max_in_flight=1)

    def delete(*ids: str) -> DeleteMessages:
        entries = tuple(DeleteEntry(entry_id=i, receipt_handle=f"{i}" * 20) for i in ids)
        return DeleteMessages(now_ms=0, queue="q", entries=entries)

    first = asyncio.create_task(coalescer.execute(delete("z")))
    await settle()
    a = asyncio.create_task(coalescer.execute(delete("a", "b")))
    b = asyncio.create_task(coalescer.execute(delete("a")))
    await settle()
    backend.release.set()
    await first
    result_a, result_b = await a, await b
    assert isinstance(result_a, BatchResult) and isinstance(result_b, BatchResult)
    assert (result_a.succeeded, result_b.succeeded) == (("a", "b"), ("a",))
    assert len(backend.commands) == 2


async def test_a_request_whose_client_left_is_not_sent() -> None:
    backend = Backend()
    coalescer = Coalescer(backend.execute, max_in_flight=1)
    first = asyncio.create_task(coalescer.execute(send("q", "x")))
    await settle()
    gone = asyncio.create_task(coalescer.execute(send("q", "gone")))
    kept = asyncio.create_task(coalescer.execute(send("q", "kept")))
    await settle()
    gone.cancel()
    await settle()
    backend.release.set()
    await first
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    bodies = [e.body for c in backend.commands if isinstance(c, SendMessages) for e in c.entries]
    assert bodies == [b"x", b"kept"]

"""Long polls wake only as many waiters as messages became visible, lose no wake-up, and a
commit's count of visible messages is right. No sleeps: waits end by wake-ups or zero timeouts,
and the test yields to the loop to let woken tasks run."""

from __future__ import annotations

import asyncio

from raftq.backend.long_poll import LongPollWaiters
from raftq.backend.receives import visible_count
from raftq.common import codec
from raftq.common.commands import (
    AcceptDeadLetters,
    ChangeVisibility,
    DeadLetter,
    FinishTasks,
    PurgeQueue,
    ReleaseDeadLetters,
    SendEntry,
    SendMessages,
    VisibilityEntry,
)
from raftq.common.encoded_command import peek
from raftq.common.results import (
    BatchResult,
    DeadLettersAccepted,
    DeadLettersReleased,
    EntryFailure,
    Failure,
    PurgeResult,
    SendResult,
    SentMessage,
)
from raftq.common.tasks_wire import FinishEntry, TaskOutcome

NOW_MS = 1_700_000_000_000
LONG_S = 3_600.0  # a wait that only a wake-up ends within a test


async def _let_tasks_run() -> None:
    for _ in range(5):
        await asyncio.sleep(0)  # yields to the loop; no time passes


async def _waiting(waiters: LongPollWaiters, queue: str, count: int) -> list[asyncio.Task[bool]]:
    tasks = [
        asyncio.create_task(waiters.wait(queue, LONG_S, waiters.generation(queue)))
        for _ in range(count)
    ]
    await _let_tasks_run()
    assert waiters.waiting == count
    return tasks


async def test_a_commit_that_made_two_messages_visible_wakes_two_of_five_waiters_oldest_first() -> (
    None
):
    # Given five receives waiting on a queue, and one on another queue
    waiters = LongPollWaiters()
    tasks = await _waiting(waiters, "jobs", 5)
    other = asyncio.create_task(waiters.wait("other", LONG_S, waiters.generation("other")))
    await _let_tasks_run()

    # When a commit makes two messages visible
    woken = waiters.notify("jobs", 2)
    await _let_tasks_run()

    # Then the two oldest waiters of that queue wake, and no one else
    assert woken == 2
    assert [task.done() for task in tasks] == [True, True, False, False, False]
    assert all(task.result() for task in tasks[:2])
    assert not other.done()
    assert waiters.waiting == 4
    for task in [*tasks[2:], other]:
        task.cancel()
    await asyncio.gather(*tasks[2:], other, return_exceptions=True)
    assert waiters.waiting == 0


async def test_a_notify_between_looking_at_the_queue_and_waiting_is_not_lost() -> None:
    # Given a receive that read the queue's generation, then found the queue empty
    waiters = LongPollWaiters()
    seen = waiters.generation("jobs")
    # When a send makes a message visible before the receive starts to wait
    assert waiters.notify("jobs", 1) == 0  # nobody waits yet
    # Then its wait returns at once, so it looks again instead of sleeping past the message
    assert await waiters.wait("jobs", LONG_S, seen) is True
    assert waiters.waiting == 0


async def test_a_woken_waiter_that_is_cancelled_hands_its_wake_up_to_the_next() -> None:
    # Given two waiters
    waiters = LongPollWaiters()
    first, second = await _waiting(waiters, "jobs", 2)

    # When one message wakes the first, whose client goes away before it runs
    waiters.notify("jobs", 1)
    first.cancel()
    await _let_tasks_run()

    # Then the second is woken in its place
    assert first.cancelled()
    assert second.done() and second.result() is True


async def test_a_wait_ends_without_wake_up_at_its_timeout() -> None:
    waiters = LongPollWaiters()
    assert await waiters.wait("jobs", 0, waiters.generation("jobs")) is False
    assert waiters.waiting == 0


async def test_wake_all_ends_every_wait() -> None:
    # When leadership is lost every long poll answers, on every queue
    waiters = LongPollWaiters()
    tasks = [
        asyncio.create_task(waiters.wait(queue, LONG_S, waiters.generation(queue)))
        for queue in ("a", "a", "b")
    ]
    await _let_tasks_run()
    assert waiters.waiting == 3
    waiters.wake_all()
    await _let_tasks_run()
    assert all(task.done() and task.result() for task in tasks)
    assert waiters.waiting == 0


async def test_someone_waits_returns_only_while_a_receive_waits() -> None:
    # Given no receive waiting: the leadership watch sleeps (an idle leader does not wake)
    waiters = LongPollWaiters()
    watch = asyncio.create_task(waiters.someone_waits())
    await _let_tasks_run()
    assert not watch.done()

    # When a receive waits, the watch returns
    tasks = await _waiting(waiters, "jobs", 1)
    await _let_tasks_run()
    assert watch.done()

    # And once the last wait ended, it sleeps again
    waiters.wake_all()
    await _let_tasks_run()
    assert tasks[0].result() is True
    again = asyncio.create_task(waiters.someone_waits())
    await _let_tasks_run()
    assert not again.done()
    again.cancel()


def _send(*entries: SendEntry) -> SendMessages:
    return SendMessages(now_ms=0, queue="jobs", entries=entries)


def _sent(*entry_ids: str, duplicate: str | None = None) -> SendResult:
    return SendResult(
        sent=tuple(
            SentMessage(
                entry_id=entry_id,
                message_id=f"m-{entry_id}",
                sequence_number=n,
                duplicate=entry_id == duplicate,
            )
            for n, entry_id in enumerate(entry_ids)
        ),
        failed=(),
    )


def test_a_send_counts_the_new_messages_it_made_visible_now() -> None:
    command = _send(
        SendEntry(entry_id="plain", body=b"x"),
        SendEntry(entry_id="zero-delay", body=b"x", delay_ms=0),
        SendEntry(entry_id="delayed", body=b"x", delay_ms=5_000),
        SendEntry(entry_id="due", body=b"x", deliver_at_ms=NOW_MS),
        SendEntry(entry_id="later", body=b"x", deliver_at_ms=NOW_MS + 1),
        SendEntry(entry_id="again", body=b"x", dedup_id="d"),
        SendEntry(entry_id="refused", body=b"x"),
    )
    result = _sent("plain", "zero-delay", "delayed", "due", "later", "again", duplicate="again")
    # plain, zero-delay and due; not the delayed ones, the duplicate, or the refused entry
    assert visible_count(command, result, NOW_MS) == 3
    # And the leader counts the same from the bytes, without decoding the command
    assert peek(codec.encode(command)).visible_count(result, NOW_MS) == 3
    assert peek(codec.encode(command)).visible_count(result, NOW_MS + 1) == 4


def test_a_change_of_visibility_counts_only_the_messages_made_visible_now() -> None:
    command = ChangeVisibility(
        now_ms=0,
        queue="jobs",
        entries=(
            VisibilityEntry(entry_id="release", receipt_handle="h1", visibility_timeout_ms=0),
            VisibilityEntry(entry_id="extend", receipt_handle="h2", visibility_timeout_ms=30_000),
            VisibilityEntry(entry_id="stale", receipt_handle="h3", visibility_timeout_ms=0),
        ),
    )
    failure = EntryFailure(entry_id="stale", code="ReceiptHandleIsInvalid", message="stale")
    result = BatchResult(succeeded=("release", "extend"), failed=(failure,))
    assert visible_count(command, result, NOW_MS) == 1
    assert peek(codec.encode(command)).visible_count(result, NOW_MS) == 1


def test_a_task_retry_wakes_a_poll_even_when_delayed_and_a_success_does_not() -> None:
    command = FinishTasks(
        now_ms=0,
        queue="jobs",
        entries=(
            FinishEntry(entry_id="now", receipt_handle="h1", outcome=TaskOutcome.RETRY),
            FinishEntry(
                entry_id="later", receipt_handle="h2", outcome=TaskOutcome.RETRY,
                retry_delay_ms=5_000,
            ),
            FinishEntry(entry_id="done", receipt_handle="h3", outcome=TaskOutcome.SUCCEEDED),
            FinishEntry(entry_id="stale", receipt_handle="h4", outcome=TaskOutcome.RETRY),
        ),
    )  # fmt: skip
    failure = EntryFailure(entry_id="stale", code="ReceiptHandleIsInvalid", message="stale")
    result = BatchResult(succeeded=("now", "later", "done"), failed=(failure,))
    assert visible_count(command, result, NOW_MS) == 2
    assert peek(codec.encode(command)).visible_count(result, NOW_MS) == 2


def test_a_command_encoded_or_typed_that_failed_or_makes_nothing_visible_counts_none() -> None:
    send = _send(SendEntry(entry_id="plain", body=b"x"))
    failed = Failure(code="QueueDoesNotExist", message="no such queue")
    assert visible_count(send, failed, NOW_MS) == 0
    assert peek(codec.encode(send)).visible_count(failed, NOW_MS) == 0
    purge = PurgeQueue(now_ms=0, queue="jobs")
    assert peek(codec.encode(purge)).visible_count(PurgeResult(purged=3), NOW_MS) == 0


def test_dead_letters_stored_in_a_dlq_or_returned_to_their_queue_count_as_made_visible() -> None:
    # Forwarded dead letters become visible messages of their DLQ; returned ones of their queue
    letter = DeadLetter(
        message_id="m",
        body=b"x",
        sent_at_ms=0,
        receive_count=1,
        first_received_at_ms=0,
        size_bytes=1,
    )
    accept = AcceptDeadLetters(
        now_ms=0, queue="dlq", source="jobs", source_fifo=False, entries=(letter, letter)
    )
    accepted = DeadLettersAccepted(accepted=("m1", "m2"), duplicates=("m3",))
    returned = ReleaseDeadLetters(now_ms=0, queue="jobs", message_ids=("m1",), return_to_queue=True)
    made_visible = DeadLettersReleased(released=("m1",), returned_to_queue=True)
    removed = ReleaseDeadLetters(now_ms=0, queue="jobs", message_ids=("m1",))
    dead_lettered = DeadLettersReleased(released=("m1",), returned_to_queue=False)
    for command, result, expected in (
        (accept, accepted, 2),
        (returned, made_visible, 1),
        (removed, dead_lettered, 0),
    ):
        assert visible_count(command, result, NOW_MS) == expected
        assert peek(codec.encode(command)).visible_count(result, NOW_MS) == expected

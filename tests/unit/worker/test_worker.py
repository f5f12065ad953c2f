"""The worker against the in-memory service (StubTaskApi) and a manual clock: leasing only
free slots, heartbeats, reports, timeouts, stopping. Time moves only when a test advances it;
`settle()` lets the loop run until every coroutine waits (no wall time passes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from raftq.worker import Backoff, Hooks, ManualClock, Registry, StubTaskApi, TaskContext, Worker


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """For work on real threads or processes: wait for a state, not for a duration."""
    loop = asyncio.get_running_loop()
    deadline_s = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline_s, "the state was not reached"
        await asyncio.sleep(0.005)


@dataclass
class World:
    clock: ManualClock
    api: StubTaskApi
    tasks: Registry
    gate: asyncio.Event  # handlers of type "wait" block until it is set
    started: list[TaskContext]
    cancelled: list[str]

    def worker(self, **options: Any) -> Worker:
        defaults: dict[str, Any] = {
            "queue": "jobs",
            "worker_id": "w1",
            "concurrency": 2,
            "min_concurrency": 2,
            "clock": self.clock,
            "random": lambda: 0.5,
        }
        return Worker(self.api, self.tasks, **(defaults | options))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock()
    tasks = Registry()
    world = World(clock, StubTaskApi(clock), tasks, asyncio.Event(), [], [])

    @tasks.handler("echo")
    async def echo(payload: Any) -> Any:
        return {"echo": payload}

    @tasks.handler("wait", timeout_s=100)
    async def wait(payload: Any, context: TaskContext) -> str:
        world.started.append(context)
        try:
            await world.gate.wait()
        except asyncio.CancelledError:
            world.cancelled.append(context.task_id)
            raise
        return "done"

    @tasks.handler("flaky", max_attempts=3, backoff=Backoff(base_s=2, factor=2, max_s=60))
    async def flaky(payload: Any) -> None:
        raise OSError("disk on fire")

    @tasks.handler("invalid", no_retry_on=(ValueError,))
    async def invalid(payload: Any) -> None:
        raise ValueError("bad payload")

    yield world


async def _running(worker: Worker) -> asyncio.Task[None]:
    job = asyncio.create_task(worker.run())
    await settle()
    return job


async def _stop(worker: Worker, job: asyncio.Task[None]) -> None:
    worker.request_stop()
    worker.request_stop()
    await asyncio.wait_for(job, 5)


async def test_a_task_runs_and_its_result_is_reported(world: World) -> None:
    task_id = world.api.submit("echo", [1, 2])
    worker = world.worker()
    job = await _running(worker)
    assert world.api.tasks[task_id].state == "succeeded"
    assert world.api.tasks[task_id].result == {"echo": [1, 2]}
    await _stop(worker, job)


async def test_it_leases_only_as_many_tasks_as_it_has_free_slots(world: World) -> None:
    ids = [world.api.submit("wait") for _ in range(5)]
    worker = world.worker(concurrency=2)
    job = await _running(worker)
    assert [call.max_tasks for call in world.api.lease_calls] == [2]
    assert sorted(world.api.leased_to_running()) == ids[:2]
    world.gate.set()  # both end; each freed slot is asked for again
    await settle()
    assert all(call.max_tasks <= 2 for call in world.api.lease_calls)
    assert [world.api.tasks[i].state for i in ids] == ["succeeded"] * 5
    await _stop(worker, job)


async def test_one_heartbeat_extends_every_lease_each_third_of_the_lease(world: World) -> None:
    ids = [world.api.submit("wait") for _ in range(2)]
    worker = world.worker(lease_s=30)
    job = await _running(worker)
    world.clock.advance(10)
    await settle()
    assert len(world.api.heartbeat_calls) == 1
    assert sorted(world.api.heartbeat_calls[0]) == sorted(
        (world.api.tasks[i].lease or "", 30.0) for i in ids
    )
    for _ in range(5):  # 60 s: twice the lease, still held thanks to the heartbeats
        world.clock.advance(10)
        await settle()
    world.gate.set()
    await settle()
    assert [world.api.tasks[i].state for i in ids] == ["succeeded", "succeeded"]
    assert [world.api.tasks[i].attempt for i in ids] == [1, 1]
    await _stop(worker, job)


async def test_a_retryable_failure_is_retried_by_the_queue_after_a_jittered_backoff(
    world: World,
) -> None:
    task_id = world.api.submit("flaky", max_attempts=5)
    worker = world.worker()
    job = await _running(worker)
    first = world.api.finishes[0]
    assert first.outcome == "retry" and first.retry_delay_s == 1.0  # 0.5 * 2 * 2**0
    assert first.error is not None and first.error.type == "OSError"
    assert world.api.tasks[task_id].state == "retrying"
    world.clock.advance(10)  # past the delay and the idle poll
    await settle()
    assert world.api.finishes[1].retry_delay_s == 2.0  # 0.5 * 2 * 2**1
    world.clock.advance(10)
    await settle()
    # the handler's max_attempts (3) is stricter than the task's (5)
    assert [f.outcome for f in world.api.finishes] == ["retry", "retry", "failed"]
    assert world.api.tasks[task_id].state == "dead"
    await _stop(worker, job)


async def test_a_no_retry_exception_fails_the_task_at_its_first_attempt(world: World) -> None:
    task_id = world.api.submit("invalid")
    worker = world.worker()
    job = await _running(worker)
    assert [f.outcome for f in world.api.finishes] == ["failed"]
    error = world.api.tasks[task_id].errors[0]
    assert (error.type, error.message) == ("ValueError", "bad payload")
    await _stop(worker, job)


async def test_an_unknown_type_fails_with_a_clear_error(world: World) -> None:
    task_id = world.api.submit("no.such.type")
    worker = world.worker()
    job = await _running(worker)
    assert world.api.tasks[task_id].state == "dead"
    assert world.api.tasks[task_id].errors[0].type == "UnknownTaskType"
    assert "no.such.type" in world.api.tasks[task_id].errors[0].message
    await _stop(worker, job)


async def test_an_async_handler_over_its_timeout_is_cancelled_and_retried(world: World) -> None:
    task_id = world.api.submit("wait", timeout_s=5)  # the task's limit is below the handler's
    worker = world.worker()
    job = await _running(worker)
    world.clock.advance(5)
    await settle()
    assert world.cancelled == [task_id]
    report = world.api.finishes[0]
    assert report.outcome == "retry"
    assert report.error is not None and report.error.type.endswith("TaskTimedOut")
    await _stop(worker, job)


async def test_a_thread_handler_over_its_timeout_is_reported_and_its_slot_freed(
    world: World,
) -> None:
    release = threading.Event()

    @world.tasks.handler("blocking", timeout_s=5)
    def blocking(payload: Any) -> str:
        release.wait(10)
        return "late"

    world.api.submit("blocking")
    worker = world.worker(concurrency=1, min_concurrency=1)
    job = await _running(worker)
    await until(lambda: world.clock.sleepers >= 2)  # the heartbeat and the timeout
    world.clock.advance(5)
    await until(lambda: len(world.api.finishes) == 1)
    assert world.api.finishes[0].error is not None
    assert world.api.finishes[0].error.type.endswith("TaskTimedOut")
    assert worker.running == []  # the abandoned thread holds no slot
    release.set()
    await _stop(worker, job)


async def test_a_finish_refused_after_a_takeover_is_dropped_not_retried(world: World) -> None:
    task_id = world.api.submit("wait")
    worker = world.worker()
    job = await _running(worker)
    world.api.tasks[task_id].lease = "someone-else"  # another worker holds it now
    world.gate.set()
    await settle()
    assert len(world.api.finish_calls) == 1
    assert worker.stats.lost == 1 and worker.stats.succeeded == 0
    await _stop(worker, job)


async def test_a_lease_lost_at_a_heartbeat_cancels_the_handler_without_a_report(
    world: World,
) -> None:
    task_id = world.api.submit("wait")
    worker = world.worker(lease_s=30)
    job = await _running(worker)
    world.api.tasks[task_id].lease = "someone-else"
    world.clock.advance(10)
    await settle()
    assert world.cancelled == [task_id]
    assert world.api.finish_calls == [] and worker.running == []
    await _stop(worker, job)


async def test_a_first_stop_hands_back_unstarted_leases_and_lets_running_tasks_finish(
    world: World,
) -> None:
    running_id = world.api.submit("wait")
    worker = world.worker(concurrency=2)
    job = await _running(worker)  # one slot runs, the other long-polls
    worker.request_stop()
    late_id = world.api.submit("echo")  # the poll in flight leases it after the stop
    await settle()
    [release] = world.api.finish_calls[-1]
    assert (release.lease, release.outcome) == (f"{late_id}/lease-2", "released")
    late = world.api.tasks[late_id]
    assert late.state == "queued" and late.handed_back and late.attempt == 0  # not an attempt
    assert not job.done() and worker.running == [running_id]
    world.gate.set()
    await asyncio.wait_for(job, 5)
    assert world.api.tasks[running_id].state == "succeeded"
    assert [(f.lease, f.outcome) for f in world.api.finishes] == [
        (f"{late_id}/lease-2", "released"),
        (f"{running_id}/lease-1", "succeeded"),
    ]


async def test_a_second_stop_cancels_running_tasks_and_hands_back_their_leases(
    world: World,
) -> None:
    ids = [world.api.submit("wait") for _ in range(2)]
    worker = world.worker()
    job = await _running(worker)
    worker.request_stop()
    await settle()
    assert not job.done()
    worker.request_stop()
    await asyncio.wait_for(job, 5)
    assert sorted(world.cancelled) == ids
    assert sorted(world.api.heartbeat_calls[-1]) == [
        (f"{i}/lease-{n}", 0.0) for n, i in enumerate(ids, 1)
    ]
    assert [world.api.tasks[i].state for i in ids] == ["queued", "queued"]
    assert world.api.finish_calls == []


async def test_the_end_of_the_grace_period_stops_hard(world: World) -> None:
    task_id = world.api.submit("wait")
    worker = world.worker(grace_s=15, lease_s=60)
    job = await _running(worker)
    worker.request_stop()
    await settle()
    world.clock.advance(14.9)
    await settle()
    assert not job.done()
    world.clock.advance(0.1)
    await asyncio.wait_for(job, 5)
    assert world.cancelled == [task_id] and world.api.tasks[task_id].state == "queued"


async def test_concurrency_grows_while_full_batches_keep_every_slot_busy_then_shrinks_idle(
    world: World,
) -> None:
    releases: dict[str, asyncio.Event] = {}

    @world.tasks.handler("hold")
    async def hold(payload: Any, context: TaskContext) -> None:
        await releases.setdefault(context.task_id, asyncio.Event()).wait()

    ids = [world.api.submit("hold") for _ in range(10)]
    worker = world.worker(concurrency=3, min_concurrency=1)
    job = await _running(worker)
    assert worker.target_concurrency == 1 and worker.running == ids[:1]
    targets = []
    for task_id in ids[:4]:  # each end frees one slot; its lease comes back full
        releases[task_id].set()
        await settle()
        targets.append(worker.target_concurrency)
    assert targets == [2, 3, 3, 3]  # two full batches per step, never past the max
    assert len(worker.running) == 3 and all(c.max_tasks <= 3 for c in world.api.lease_calls)
    for event in [releases.setdefault(i, asyncio.Event()) for i in ids]:
        event.set()
    await settle()
    assert worker.running == [] and worker.target_concurrency == 3
    for _ in range(3):  # heartbeat ticks at 10, 20 and 30 s: idle for 30 s shrinks one slot
        world.clock.advance(10)
        await settle()
    assert worker.target_concurrency == 2
    await _stop(worker, job)


async def test_hooks_are_called_around_each_attempt(world: World) -> None:
    calls: list[tuple[str, str]] = []

    async def on_retry(context: TaskContext, error: Any, delay_s: float) -> None:
        calls.append(("retry", f"{context.type}:{error.type}:{delay_s}"))

    def on_start(context: TaskContext) -> None:
        calls.append(("start", context.type))
        if context.type == "invalid":
            raise RuntimeError("a hook's bug")  # logged, not the task's

    hooks = Hooks(
        on_start=on_start,
        on_success=lambda context, result: calls.append(("success", repr(result))),
        on_failure=lambda context, error: calls.append(("failure", error.type)),
        on_retry=on_retry,
    )
    world.api.submit("echo", 7)
    world.api.submit("flaky")
    world.api.submit("invalid")
    worker = world.worker(concurrency=1, min_concurrency=1, hooks=hooks)
    job = await _running(worker)
    assert calls == [
        ("start", "echo"),
        ("success", "{'echo': 7}"),
        ("start", "flaky"),
        ("retry", "flaky:OSError:1.0"),
        ("start", "invalid"),
        ("failure", "ValueError"),
    ]
    await _stop(worker, job)


async def test_a_result_that_is_not_json_fails_the_task(world: World) -> None:
    @world.tasks.handler("odd")
    async def odd(payload: Any) -> Any:
        return {1, 2}

    task_id = world.api.submit("odd")
    worker = world.worker()
    job = await _running(worker)
    assert world.api.tasks[task_id].state == "dead"
    assert world.api.tasks[task_id].errors[0].type.endswith("ResultNotJson")
    await _stop(worker, job)


async def test_a_process_handler_returns_its_result_and_is_terminated_over_its_timeout(
    world: World,
) -> None:
    from tests.unit.worker import process_handlers  # noqa: PLC0415

    done_id = world.api.submit("square", 7)
    slow_id = world.api.submit("sleepy", 60)
    worker = Worker(
        world.api,
        process_handlers.tasks,
        queue="jobs",
        concurrency=2,
        min_concurrency=2,
        clock=world.clock,
    )
    job = asyncio.create_task(worker.run())
    await until(lambda: world.api.tasks[done_id].state == "succeeded", timeout_s=30)
    assert world.api.tasks[done_id].result == 49
    # the heartbeat, the idle poll of the freed slot, and the slow one's timer
    await until(lambda: world.clock.sleepers >= 3, timeout_s=30)
    world.clock.advance(5)
    await until(lambda: world.api.tasks[slow_id].state != "running", timeout_s=30)
    assert world.api.tasks[slow_id].errors[0].type.endswith("TaskTimedOut")
    await _stop(worker, job)


class _LeaseFailsOnce(StubTaskApi):
    failures = 1

    async def lease_tasks(self, queue: str, worker_id: str, **options: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("no frontend answered")
        return await super().lease_tasks(queue, worker_id, **options)


async def test_a_failed_lease_call_is_tried_again_after_a_pause(world: World) -> None:
    api = _LeaseFailsOnce(world.clock)
    task_id = api.submit("echo", "hi")
    worker = Worker(api, world.tasks, queue="jobs", clock=world.clock)
    job = await _running(worker)
    assert api.tasks[task_id].state == "queued"
    world.clock.advance(1)
    await settle()
    assert api.tasks[task_id].state == "succeeded"
    await _stop(worker, job)


async def test_cancelling_run_hands_back_every_held_lease(world: World) -> None:
    task_id = world.api.submit("wait")
    worker = world.worker()
    job = await _running(worker)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert world.cancelled == [task_id] and world.api.tasks[task_id].state == "queued"


async def test_more_than_ten_leases_heartbeat_in_batches_of_ten(world: World) -> None:
    for _ in range(12):
        world.api.submit("wait")
    worker = world.worker(concurrency=12, min_concurrency=12)
    job = await _running(worker)
    assert [call.max_tasks for call in world.api.lease_calls] == [10, 2]
    world.clock.advance(10)
    await settle()
    assert [len(call) for call in world.api.heartbeat_calls] == [10, 2]
    await _stop(worker, job)

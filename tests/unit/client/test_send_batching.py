"""The SDK's batch calls and its joining of concurrent sends, against a real aiohttp server that
stands in for the frontend's message routes (fake_frontend.py) and counts its requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from raftq.client.sdk import AsyncClient, InvalidRequest, RaftqApiError, SendEntry
from tests.unit.client.fake_frontend import FakeFrontend


@pytest.fixture
async def frontend() -> AsyncIterator[FakeFrontend]:
    fake = FakeFrontend()
    server = await fake.start()
    try:
        yield fake
    finally:
        await server.close()


def client(frontend: FakeFrontend, **options: Any) -> AsyncClient:
    return AsyncClient(frontend.endpoint, "key", "secret", retries=0, **options)


async def test_concurrent_sends_share_one_request_and_each_caller_gets_its_own_id(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend) as sdk:
        bodies = [f"m{n}" for n in range(10)]
        results = await asyncio.gather(*(sdk.send("q", body) for body in bodies))
    assert frontend.batches() == [10] and frontend.requests[0].route == "batch"
    assert [r["message_id"] for r in results] == [frontend.ids[body] for body in bodies]
    assert all(set(r) == {"message_id", "sequence_number", "duplicate"} for r in results)


async def test_a_failing_entry_raises_for_its_caller_only(frontend: FakeFrontend) -> None:
    async with client(frontend) as sdk:
        results = await asyncio.gather(
            *(sdk.send("q", body) for body in ("a", "fail", "c")), return_exceptions=True
        )
    assert frontend.batches() == [3]
    ok_a, failed, ok_c = results
    assert isinstance(failed, RaftqApiError)
    assert (failed.status, failed.code, failed.field) == (400, "InvalidParameter", "body")
    assert isinstance(ok_a, dict) and ok_a["message_id"] == frontend.ids["a"]
    assert isinstance(ok_c, dict) and ok_c["message_id"] == frontend.ids["c"]


async def test_a_failed_request_raises_for_every_caller_with_its_own_error(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend) as sdk:
        results = await asyncio.gather(
            *(sdk.send("missing", body) for body in ("a", "b", "c")), return_exceptions=True
        )
    assert frontend.batches() == [3]
    assert all(isinstance(r, RaftqApiError) and r.status == 404 for r in results)
    assert len({id(r) for r in results}) == 3  # one exception object per caller


async def test_an_oversized_message_fails_alone_and_the_others_are_sent(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend) as sdk:
        results = await asyncio.gather(
            *(sdk.send("q", body) for body in ("a", "x" * 2_000, "c")), return_exceptions=True
        )
    # Then the 413 of the batch is followed by one request per message
    routes = [(r.route, len(r.bodies)) for r in frontend.requests]
    assert routes == [("batch", 3), ("one", 1), ("one", 1), ("one", 1)]
    big = results[1]
    assert isinstance(big, RaftqApiError) and (big.status, big.field) == (413, "body")
    assert sorted(frontend.stored["q"]) == ["a", "c"]


async def test_an_entry_that_does_not_validate_fails_alone(frontend: FakeFrontend) -> None:
    async with client(frontend) as sdk:
        results = await asyncio.gather(
            sdk.send("q", "a"),
            sdk.send("q", "b", idempotency_key="has spaces"),
            return_exceptions=True,
        )
    assert isinstance(results[0], dict)
    refused = results[1]
    assert isinstance(refused, RaftqApiError)
    assert (refused.status, refused.field) == (400, "Idempotency-Key")  # as when sent alone
    assert frontend.stored["q"] == ["a"]


async def test_a_send_to_an_idle_queue_does_not_wait_for_the_linger(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend, send_linger_ms=60_000) as sdk:
        sent = await asyncio.wait_for(sdk.send("q", "alone"), timeout=5)
    assert sent["message_id"] == frontend.ids["alone"]
    assert [r.route for r in frontend.requests] == ["one"]


async def test_a_send_waits_at_most_the_linger_while_another_is_in_flight(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend, send_linger_ms=100) as sdk:
        held = asyncio.create_task(sdk.send("q", "hold"))
        await frontend.first_request()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(sdk.send("q", "next"), timeout=5)
        assert not held.done()  # it went out beside the held request, not after it
        frontend.release.set()
        await held
    assert frontend.requests[1].bodies == ["next"]
    assert frontend.requests[1].at_s - started >= 0.1


async def test_a_full_batch_goes_at_once_without_waiting_for_the_linger(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend, send_linger_ms=60_000) as sdk:
        held = asyncio.create_task(sdk.send("q", "hold"))
        await frontend.first_request()
        await asyncio.wait_for(
            asyncio.gather(*(sdk.send("q", f"m{n}") for n in range(10))), timeout=5
        )
        frontend.release.set()
        await held
    assert frontend.batches() == [1, 10]


async def test_batches_hold_at_most_batch_max_entries(frontend: FakeFrontend) -> None:
    async with client(frontend, batch_max_entries=4) as sdk:
        await asyncio.gather(*(sdk.send("q", f"m{n}") for n in range(10)))
    assert frontend.batches() == [4, 4, 2]


async def test_batches_stay_under_the_request_size_limit(frontend: FakeFrontend) -> None:
    async with client(frontend, max_request_bytes=2_048) as sdk:
        await asyncio.gather(*(sdk.send("q", "x" * 500) for _ in range(5)))
    assert frontend.batches() == [3, 2]


async def test_a_linger_of_zero_sends_every_message_alone(frontend: FakeFrontend) -> None:
    async with client(frontend, send_linger_ms=0) as sdk:
        await asyncio.gather(*(sdk.send("q", f"m{n}") for n in range(5)))
    assert [r.route for r in frontend.requests] == ["one"] * 5


async def test_fifo_sends_are_committed_in_call_order_one_batch_at_a_time(
    frontend: FakeFrontend,
) -> None:
    bodies = [f"m{n}" for n in range(11)]
    async with client(frontend, batch_max_entries=3) as sdk:
        await asyncio.gather(*(sdk.send("q.fifo", body, group_id="g") for body in bodies))
    assert frontend.stored["q.fifo"] == bodies
    assert frontend.batches() == [3, 3, 3, 2] and frontend.most_in_flight == 1


async def test_standard_queue_batches_may_be_in_flight_together(frontend: FakeFrontend) -> None:
    async with client(frontend, batch_max_entries=3) as sdk:
        await asyncio.gather(*(sdk.send("q", f"m{n}") for n in range(9)))
    assert frontend.most_in_flight > 1


async def test_a_send_cancelled_before_its_batch_goes_out_is_left_out(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend, send_linger_ms=200) as sdk:
        held = asyncio.create_task(sdk.send("q", "hold"))
        await frontend.first_request()
        kept = asyncio.create_task(sdk.send("q", "kept"))
        dropped = asyncio.create_task(sdk.send("q", "dropped"))
        await asyncio.sleep(0)  # both are waiting in the open batch now
        dropped.cancel()
        await kept
        frontend.release.set()
        await held
    assert [r.bodies for r in frontend.requests] == [["hold"], ["kept"]]


async def test_closing_the_client_sends_what_waits(frontend: FakeFrontend) -> None:
    sdk = client(frontend, send_linger_ms=60_000)
    held = asyncio.create_task(sdk.send("q", "hold"))
    await frontend.first_request()
    waiting = asyncio.create_task(sdk.send("q", "waiting"))
    await asyncio.sleep(0)
    frontend.release.set()
    await asyncio.wait_for(sdk.close(), timeout=5)
    assert (await waiting)["message_id"] == frontend.ids["waiting"]
    await held


# --- explicit batches -----------------------------------------------------------------------


async def test_send_batch_returns_each_entrys_outcome_in_order(frontend: FakeFrontend) -> None:
    async with client(frontend) as sdk:
        results = await sdk.send_batch(
            "q", ["a", b"\x00binary", SendEntry("fail"), SendEntry("d", idempotency_key="k-d")]
        )
    assert frontend.batches() == [4]
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[0].message_id == frontend.ids["a"]
    assert results[3].idempotency_key == "k-d" and results[3].message_id == frontend.ids["d"]
    error = results[2].error
    assert error is not None and (error.code, error.field) == ("InvalidParameter", "body")
    with pytest.raises(RaftqApiError):
        results[2].result()
    assert len({r.idempotency_key for r in results}) == 4  # every entry has its own


async def test_a_batch_retried_after_a_lost_answer_is_stored_once(frontend: FakeFrontend) -> None:
    frontend.lose_answers = 1  # stored, then 503: the outcome is unknown to the SDK
    async with AsyncClient(frontend.endpoint, "key", "secret", retries=1) as sdk:
        results = await sdk.send_batch("q", ["a", "b", "c"])
    assert frontend.batches() == [3, 3]
    assert frontend.stored["q"] == ["a", "b", "c"]
    assert [r.result()["duplicate"] for r in results] == [True, True, True]
    assert [r.message_id for r in results] == [frontend.ids[b] for b in ("a", "b", "c")]


@pytest.mark.parametrize(
    ("entries", "status", "field"),
    [
        ([], 400, "entries"),
        (["m"] * 11, 400, "entries"),
        (["m", "x" * (1_048_576 + 1)], 413, "entries.1.body"),
        (["x" * 1_500, "y" * 1_500], 413, "entries"),  # over max_request_bytes together
    ],
    ids=["empty", "too-many-entries", "oversized-body", "oversized-request"],
)
async def test_send_batch_refuses_bad_batches_before_sending_them(
    frontend: FakeFrontend, entries: list[str], status: int, field: str
) -> None:
    async with client(frontend, max_request_bytes=2_048) as sdk:
        with pytest.raises(InvalidRequest) as refused:
            await sdk.send_batch("orders", entries)
    assert (refused.value.status, refused.value.field) == (status, field)
    assert "'orders'" in refused.value.message
    assert isinstance(refused.value, ValueError)
    assert frontend.requests == []


async def test_delete_batch_names_the_handle_of_each_failed_entry(
    frontend: FakeFrontend,
) -> None:
    async with client(frontend) as sdk:
        answer = await sdk.delete_batch("q", ["h1", "gone", "h3"])
        with pytest.raises(InvalidRequest) as refused:
            await sdk.delete_batch("q", [])
    assert answer["succeeded"] == ["d0", "d2"]
    [failure] = answer["failed"]
    assert failure["receipt_handle"] == "gone" and failure["field"] == "receipt_handle"
    assert refused.value.field == "receipt_handles"
    assert frontend.batches() == [3]


@pytest.mark.parametrize(
    "options",
    [{"send_linger_ms": -1}, {"batch_max_entries": 0}, {"max_request_bytes": 10}],
    ids=["negative-linger", "empty-batches", "tiny-requests"],
)
def test_bad_batching_options_are_refused_by_name(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        AsyncClient("http://127.0.0.1:1", "key", "secret", **options)

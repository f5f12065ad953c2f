"""Which SDK calls are repeated after which failures, and what they raise when the outcome
stays unknown: against a real aiohttp server on loopback that counts what it was asked
(fake_frontend.py), with the SDK's sleep replaced so no test waits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from random import Random
from typing import Any

import pytest

from raftq.client.sdk import AsyncClient, OutcomeUnknown, RaftqApiError, SendEntry
from tests.unit.client.fake_frontend import FakeFrontend

# Long enough for a loopback answer on a busy machine; a stalled answer takes this long to fail.
TIMEOUT_S = 0.5


class FakeSleep:
    """The SDK's `sleep`: records each wait, runs `meanwhile` (what happens while the SDK
    waits) and returns at once."""

    def __init__(self, meanwhile: Callable[[], None] = lambda: None) -> None:
        self.waits: list[float] = []
        self._meanwhile = meanwhile

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self._meanwhile()


@pytest.fixture
async def frontend() -> AsyncIterator[FakeFrontend]:
    fake = FakeFrontend()
    server = await fake.start()
    try:
        yield fake
    finally:
        fake.release.set()  # stalled handlers answer (to nobody) so the server can stop
        await server.close()


def client(endpoint: str, sleep: FakeSleep, **options: Any) -> AsyncClient:
    return AsyncClient(
        endpoint, "key", "secret", timeout_s=TIMEOUT_S, sleep=sleep, random=Random(7).random,
        **options,
    )  # fmt: skip


# --- calls that are not safe to repeat ----------------------------------------------------------


async def test_a_purge_that_timed_out_after_the_server_acted_is_not_repeated(
    frontend: FakeFrontend,
) -> None:
    # Given a frontend that purges and then does not answer in time
    frontend.stall_answers = 1
    sleep = FakeSleep()
    async with client(frontend.endpoint, sleep) as sdk:
        # When the purge times out
        with pytest.raises(OutcomeUnknown) as unknown:
            await sdk.purge("orders")
    # Then it was asked once, and the error says the purge may have happened
    assert [r.route for r in frontend.requests] == ["purge"]
    assert sleep.waits == []
    error = unknown.value
    assert (error.status, error.code, error.idempotency_keys) == (0, "OutcomeUnknown", ())
    assert "purge of queue 'orders' may or may not have been done" in str(error)
    assert f"no answer within {TIMEOUT_S:g} s" in str(error)


async def test_a_purge_whose_connection_dropped_after_the_server_acted_is_not_repeated(
    frontend: FakeFrontend,
) -> None:
    # Given a frontend that purges and then closes the connection without answering
    frontend.drop_connections = 1
    sleep = FakeSleep()
    async with client(frontend.endpoint, sleep) as sdk:
        with pytest.raises(OutcomeUnknown) as unknown:
            await sdk.purge("orders")
    # Then neither the SDK nor aiohttp underneath it sent the DELETE again
    assert [r.route for r in frontend.requests] == ["purge"]
    assert unknown.value.code == "OutcomeUnknown" and "connection was lost" in str(unknown.value)


async def test_a_purge_refused_before_anything_was_done_is_repeated(
    frontend: FakeFrontend,
) -> None:
    # Given a frontend that first refuses with 503 and Retry-After (nothing was proposed)
    frontend.overloaded = 1
    sleep = FakeSleep()
    async with client(frontend.endpoint, sleep) as sdk:
        await sdk.purge("orders")
    # Then the SDK waited as told and purged once
    assert sleep.waits == [1.0]
    assert [r.route for r in frontend.requests] == ["purge"]


# --- calls that are safe to repeat --------------------------------------------------------------


async def test_a_send_that_timed_out_is_repeated_with_the_same_dedup_id(
    frontend: FakeFrontend,
) -> None:
    # Given a frontend that stores the message and then does not answer in time
    frontend.stall_answers = 1
    sleep = FakeSleep()
    async with client(frontend.endpoint, sleep) as sdk:
        sent = await sdk.send("orders", "a", idempotency_key="order-7")
    # Then the send went again with its key, and the message is stored once
    assert [(r.route, r.keys) for r in frontend.requests] == [("one", ("order-7",))] * 2
    assert frontend.stored["orders"] == ["a"]
    assert sent["duplicate"] is True and sent["message_id"] == frontend.ids["a"]
    assert len(sleep.waits) == 1


async def test_a_drawn_dedup_id_is_kept_across_the_repeats_of_a_send(
    frontend: FakeFrontend,
) -> None:
    frontend.lose_answers = 2  # stored, then 503 OutcomeUnknown, twice
    async with client(frontend.endpoint, FakeSleep()) as sdk:
        sent = await sdk.send("orders", "a")
    keys = [r.keys for r in frontend.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert frontend.stored["orders"] == ["a"] and sent["duplicate"] is True


async def test_a_receive_that_timed_out_is_repeated_with_the_same_attempt_id(
    frontend: FakeFrontend,
) -> None:
    frontend.stall_answers = 1
    async with client(frontend.endpoint, FakeSleep()) as sdk:
        assert await sdk.receive("orders") == []
    [first, second] = frontend.requests
    assert first.route == second.route == "receive" and first.keys == second.keys


# --- when the outcome stays unknown -------------------------------------------------------------


async def test_a_send_of_unknown_outcome_raises_with_its_idempotency_key_once_the_budget_is_spent(
    frontend: FakeFrontend,
) -> None:
    # Given a frontend whose every answer to a send is lost (503 OutcomeUnknown)
    frontend.lose_answers = 1_000
    sleep = FakeSleep()
    async with client(frontend.endpoint, sleep) as sdk:
        # When the SDK has waited its whole default budget
        with pytest.raises(OutcomeUnknown) as unknown:
            await sdk.send("orders", "a", idempotency_key="order-7")
    # Then the error names the key to send again with
    error = unknown.value
    assert (error.status, error.code) == (503, "OutcomeUnknown")
    assert error.idempotency_keys == ("order-7",) and error.idempotency_key == "order-7"
    assert "idempotency key 'order-7'" in str(error)
    assert "send to queue 'orders' may or may not have been done" in str(error)
    assert sum(sleep.waits) == pytest.approx(15.0)
    assert len(frontend.requests) == len(sleep.waits) + 1
    assert frontend.stored["orders"] == ["a"]


async def test_a_batch_of_unknown_outcome_names_each_entrys_dedup_id_in_order(
    frontend: FakeFrontend,
) -> None:
    frontend.lose_answers = 1_000
    async with client(frontend.endpoint, FakeSleep(), retries=2) as sdk:
        with pytest.raises(OutcomeUnknown) as unknown:
            await sdk.send_batch("orders", ["a", SendEntry("b", idempotency_key="k-b")])
    keys = unknown.value.idempotency_keys
    assert len(keys) == 2 and keys[1] == "k-b"
    assert len(frontend.requests) == 3  # the first attempt and two retries
    assert all(r.keys == keys for r in frontend.requests)


async def test_joined_sends_of_unknown_outcome_each_name_their_own_key(
    frontend: FakeFrontend,
) -> None:
    frontend.lose_answers = 1_000
    async with client(frontend.endpoint, FakeSleep(), retries=0) as sdk:
        results = await _gather(
            sdk.send("orders", "a", idempotency_key="k-a"),
            sdk.send("orders", "b", idempotency_key="k-b"),
        )
    assert frontend.batches() == [2]
    assert [r.idempotency_keys for r in results] == [("k-a",), ("k-b",)]


async def test_a_refusal_after_an_unknown_attempt_is_still_an_unknown_outcome(
    frontend: FakeFrontend,
) -> None:
    # Given a send whose first answer is lost, and whose repeat is refused: the queue was
    # deleted while the SDK waited
    frontend.lose_answers = 1
    sleep = FakeSleep(meanwhile=lambda: frontend.missing_queues.add("orders"))
    async with client(frontend.endpoint, sleep) as sdk:
        with pytest.raises(OutcomeUnknown) as unknown:
            await sdk.send("orders", "a", idempotency_key="k")
    # Then the refusal of the repeat does not hide that the first may have been stored
    assert len(frontend.requests) == 2
    error = unknown.value
    assert (error.status, error.code, error.idempotency_key) == (0, "OutcomeUnknown", "k")
    assert "last: 404 QueueDoesNotExist" in str(error)


async def test_a_frontend_that_is_down_is_tried_for_the_whole_budget() -> None:
    # Given an endpoint where nothing listens (a frontend restarting)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    sleep = FakeSleep()
    async with client(f"http://127.0.0.1:{port}", sleep, retry_budget_s=12.0) as sdk:
        with pytest.raises(RaftqApiError) as unreachable:
            await sdk.purge("orders")
    # Then even the purge was retried (nothing was sent), for the whole budget
    assert not isinstance(unreachable.value, OutcomeUnknown)
    assert unreachable.value.code == "Unreachable" and "'orders'" in str(unreachable.value)
    assert sum(sleep.waits) == pytest.approx(12.0) and len(sleep.waits) > 4


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"retry_budget_s": -1}, "retry_budget_s"),
        ({"retry_max_wait_s": 0.01}, "retry_max_wait_s"),
        ({"retries": -1}, "retries"),
    ],
)
def test_bad_retry_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AsyncClient("http://127.0.0.1:1", "key", "secret", **options)


async def _gather(*sends: Any) -> list[OutcomeUnknown]:
    results = await asyncio.gather(*sends, return_exceptions=True)
    assert all(isinstance(r, OutcomeUnknown) for r in results), results
    return [r for r in results if isinstance(r, OutcomeUnknown)]

"""A public client that goes away ends its work on the backend leader, through a real frontend
started by `raftq up`: the frontend cancels the handler of a client that disconnected
(`handler_cancellation`), its channel request sends CANCEL, and the leader ends the long poll.
A message sent afterwards goes to a consumer that is there, not to the one that left."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.integration.cluster import eventually
from tests.integration.conftest import Deployment
from tests.integration.test_frontend import call

pytestmark = pytest.mark.integration

BACKEND_API_OFFSETS = (9, 10, 11)  # raftq up: c1-n1..n3's API ports from --base-port


async def _long_polls_waiting(session: aiohttp.ClientSession, deployment: Deployment) -> float:
    """Receives waiting in a long poll, on all backend members (only the leader has any)."""
    layout = json.loads((deployment.data_dir / "layout.json").read_text())
    total = 0.0
    for offset in BACKEND_API_OFFSETS:
        url = f"http://{layout['host']}:{layout['base_port'] + offset}/metrics"
        async with session.get(url) as response:
            text = await response.text()
        total += sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("raftq_long_poll_waiting")
        )
    return total


async def _waiting_becomes(
    session: aiohttp.ClientSession, deployment: Deployment, count: int, timeout_s: float
) -> None:
    async def probe() -> bool | None:
        return True if await _long_polls_waiting(session, deployment) == count else None

    await eventually(probe, timeout_s=timeout_s, what=f"{count} long polls waiting")


@pytest.mark.parametrize("leaves_by", ["disconnecting", "timing-out"])
async def test_a_long_poll_whose_client_went_away_ends_on_the_leader(
    deployment: Deployment, leaves_by: str
) -> None:
    queue = f"left-{leaves_by}"
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": queue})
        # Given a client long-polling the empty queue for 20 s
        timeout = aiohttp.ClientTimeout(total=2.0 if leaves_by == "timing-out" else None)
        async with aiohttp.ClientSession(timeout=timeout) as impatient:
            path = f"/v1/queues/{queue}/messages"
            poll = asyncio.create_task(call(impatient, deployment, "GET", path, query="wait_s=20"))
            await _waiting_becomes(session, deployment, 1, timeout_s=5)
            # When it goes away: it closes its connection, or its own timeout fires
            if leaves_by == "disconnecting":
                poll.cancel()
            with pytest.raises((asyncio.CancelledError, TimeoutError)):
                await poll
        left_at = time.monotonic()
        # Then the leader stops waiting for it at once, not when its 20 s are up
        await _waiting_becomes(session, deployment, 0, timeout_s=3)
        assert time.monotonic() - left_at < 3
        # And a message sent now goes to a consumer that is there, at once
        await call(session, deployment, "POST", path, {"body": "for whoever is here"})
        status, received, _ = await call(session, deployment, "GET", path, query="wait_s=0")
        assert status == 200
        assert [m["body"] for m in received["messages"]] == ["for whoever is here"]

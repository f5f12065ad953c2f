"""A backend's view of frontend credentials: believed for a short while, asked once per id
however many connections ask at once, refreshed on a recheck, and kept when the metadata group
cannot be reached. A fake clock, no sleeps."""

from __future__ import annotations

import asyncio

import pytest

from raftq.backend.frontend_secrets import FrontendSecrets
from raftq.common.errors import BackendUnavailable, FrontendNotFound
from raftq.common.metadata_api import FrontendSecret

LIVE = "RF" + "A" * 18
UNKNOWN = "RF" + "B" * 18


class Metadata:
    def __init__(self) -> None:
        self.secrets = {LIVE: "the-live-frontends-secret"}
        self.asked: list[str] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def lookup(self, frontend_id: str) -> FrontendSecret:
        self.asked.append(frontend_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise BackendUnavailable("no metadata member answered")
        if frontend_id not in self.secrets:
            raise FrontendNotFound("unknown or revoked")
        return FrontendSecret(frontend_id=frontend_id, name="fe", secret=self.secrets[frontend_id])


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def make() -> tuple[FrontendSecrets, Metadata, Clock]:
    metadata, clock = Metadata(), Clock()
    return FrontendSecrets(metadata.lookup, ttl_s=5.0, monotonic=clock), metadata, clock


async def test_an_answer_is_believed_for_the_ttl_and_a_revocation_is_seen_after_it() -> None:
    secrets, metadata, clock = make()
    assert await secrets.secret_of(LIVE) == b"the-live-frontends-secret"
    clock.now_s += 4.9
    assert await secrets.secret_of(LIVE) == b"the-live-frontends-secret"
    assert metadata.asked == [LIVE]
    # When the credential is revoked, then once the TTL has passed it is refused
    del metadata.secrets[LIVE]
    clock.now_s += 0.2
    assert await secrets.secret_of(LIVE) is None
    assert metadata.asked == [LIVE, LIVE]


async def test_a_recheck_asks_afresh_whatever_the_cache_holds() -> None:
    secrets, metadata, _ = make()
    await secrets.secret_of(LIVE)
    del metadata.secrets[LIVE]
    assert await secrets.secret_of(LIVE, fresh=True) is None


async def test_an_unknown_id_is_cached_too_so_a_flood_of_one_id_costs_one_question() -> None:
    secrets, metadata, _ = make()
    for _ in range(50):
        assert await secrets.secret_of(UNKNOWN) is None
    assert metadata.asked == [UNKNOWN]


async def test_concurrent_questions_about_one_id_share_one_request() -> None:
    secrets, metadata, _ = make()
    metadata.gate = asyncio.Event()
    waiting = [asyncio.create_task(secrets.secret_of(LIVE)) for _ in range(20)]
    await asyncio.sleep(0)
    metadata.gate.set()
    assert set(await asyncio.gather(*waiting)) == {b"the-live-frontends-secret"}
    assert metadata.asked == [LIVE]


async def test_when_metadata_is_down_a_known_answer_is_kept_and_a_new_id_is_an_error() -> None:
    secrets, metadata, clock = make()
    await secrets.secret_of(LIVE)
    metadata.down = True
    clock.now_s += 60
    assert await secrets.secret_of(LIVE, fresh=True) == b"the-live-frontends-secret"
    with pytest.raises(BackendUnavailable):
        await secrets.secret_of(UNKNOWN)


async def test_a_full_cache_is_emptied_rather_than_grown() -> None:
    metadata, clock = Metadata(), Clock()
    secrets = FrontendSecrets(metadata.lookup, ttl_s=5.0, max_entries=3, monotonic=clock)
    for i in range(10):
        await secrets.secret_of(f"RF{i:018d}")
    assert len(secrets._answers) <= 3

"""Frontend credentials as a backend sees them, for the data channel's handshake
(common/channel/server.py): asked of the metadata leader (`/v1/frontends/lookup`, signed with
the cluster secret: backends are nodes) and believed for limits.FRONTEND_CREDENTIAL_CACHE_S.

Concurrent questions about one id share one request. An answer is cached whether the
credential is live or not, so a peer trying made-up ids costs the metadata leader one request
per id and period. When the metadata group cannot be reached, an earlier answer (however old)
is kept rather than dropping frontends that were verified: a revocation needs the metadata
group to be reached anyway; an id never seen is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from raftq.common import limits
from raftq.common.errors import FrontendNotFound, RaftqError
from raftq.common.metadata_api import FrontendSecret

# `MetadataClient.lookup_frontend`: the metadata leader's answer, `FrontendNotFound` if none.
Lookup = Callable[[str], Awaitable[FrontendSecret]]


class FrontendSecrets:
    def __init__(
        self,
        lookup: Lookup,
        *,
        ttl_s: float = limits.FRONTEND_CREDENTIAL_CACHE_S,
        max_entries: int = limits.FRONTEND_CREDENTIAL_CACHE_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._answers: dict[str, tuple[bytes | None, float]] = {}
        self._asking: dict[str, asyncio.Future[bytes | None]] = {}

    async def secret_of(self, frontend_id: str, *, fresh: bool = False) -> bytes | None:
        known = self._answers.get(frontend_id)
        if known is not None and not fresh and self._monotonic() - known[1] < self._ttl_s:
            return known[0]
        asking = self._asking.get(frontend_id)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(frontend_id))
            self._asking[frontend_id] = asking
            asking.add_done_callback(lambda _: self._asking.pop(frontend_id, None))
        try:
            return await asyncio.shield(asking)
        except RaftqError:
            if known is not None:
                return known[0]
            raise

    async def _ask(self, frontend_id: str) -> bytes | None:
        try:
            secret: bytes | None = (await self._lookup(frontend_id)).secret.encode()
        except FrontendNotFound:
            secret = None
        if len(self._answers) >= self._max_entries:
            self._answers.clear()
        self._answers[frontend_id] = (secret, self._monotonic())
        return secret

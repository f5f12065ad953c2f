"""Dashboard sessions: who signed in on this frontend, with which access key, until when.

Rules it keeps:
- A session id is 32 random bytes (the cookie's only content); the table holds the key id,
  never the secret. Each request looks the key up again (the frontend's key cache), so a
  revoked key's session ends and a grant's change applies, as for the REST API.
- A session lasts `idle_ms` after its last use (sliding), and at most `max_age_ms` after
  sign-in, whatever its use: a page left open does not keep a session forever.
- The table is bounded (`max_sessions`): a sign-in that would pass the bound first drops
  expired sessions, then the one used longest ago. Memory never grows with time or sign-ins.
- Time is an input (`Clock`); ids come from `new_id` (tests give a deterministic one).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from raftq.common.clock import Clock

IDLE_MS: Final = 15 * 60_000  # the cookie's Max-Age, renewed on use
MAX_AGE_MS: Final = 8 * 3_600_000  # a working day: then sign in again
# Sessions are small (about 200 bytes); a frontend serves a team, not the public.
MAX_SESSIONS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    key_id: str
    # The token every form of this session carries (csrf.py).
    csrf_token: str
    signed_in_at_ms: int
    expires_at_ms: int


def _random_id() -> str:
    return secrets.token_urlsafe(32)


class Sessions:
    def __init__(
        self,
        clock: Clock,
        *,
        idle_ms: int = IDLE_MS,
        max_age_ms: int = MAX_AGE_MS,
        max_sessions: int = MAX_SESSIONS,
        new_id: Callable[[], str] = _random_id,
    ) -> None:
        self._clock = clock
        self._idle_ms = idle_ms
        self._max_age_ms = max_age_ms
        self._max_sessions = max_sessions
        self._new_id = new_id
        # By id, the one used longest ago first.
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def idle_s(self) -> int:
        return self._idle_ms // 1000

    def start(self, key_id: str) -> Session:
        """A new session for `key_id` (its secret already verified)."""
        now = self._clock.now_ms()
        if len(self._sessions) >= self._max_sessions:
            self._drop_expired(now)
        while len(self._sessions) >= self._max_sessions:
            self._sessions.popitem(last=False)
        session = Session(
            session_id=self._new_id(),
            key_id=key_id,
            csrf_token=self._new_id(),
            signed_in_at_ms=now,
            expires_at_ms=now + self._idle_ms,
        )
        self._sessions[session.session_id] = session
        return session

    def use(self, session_id: str | None) -> Session | None:
        """The live session of `session_id`, its expiry moved on; None when there is none (never
        was, expired, ended)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock.now_ms()
        if now >= session.expires_at_ms or now >= session.signed_in_at_ms + self._max_age_ms:
            del self._sessions[session_id]
            return None
        renewed = Session(
            session_id=session.session_id,
            key_id=session.key_id,
            csrf_token=session.csrf_token,
            signed_in_at_ms=session.signed_in_at_ms,
            expires_at_ms=min(now + self._idle_ms, session.signed_in_at_ms + self._max_age_ms),
        )
        self._sessions[session_id] = renewed
        self._sessions.move_to_end(session_id)
        return renewed

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def _drop_expired(self, now: int) -> None:
        for session_id, session in list(self._sessions.items()):
            if now >= session.expires_at_ms:
                del self._sessions[session_id]

"""The dashboard's routes under `/dashboard`, its session cookie, and the rules every request
keeps:

- Nothing but the sign-in page, the stylesheet and the script answers without a session: a
  page redirects to sign-in, a live part answers 401, a POST 403.
- Sign-in takes an access key id and secret, checked as the REST API checks a signature's key
  (the frontend's key cache, the same secret, compared in constant time); then the session
  cookie is set: HttpOnly, SameSite=Strict, Path=/dashboard, Max-Age the idle time (renewed on
  use), Secure over TLS. Every later request acts as that key's principal through the service,
  so the same grants apply.
- Every POST passes csrf.py's checks before anything else is read or done; the sign-in form,
  which has no session yet, is checked against a pre-session cookie (double submit).
- Errors become pages with the status the REST API would answer (http_status.py); every value
  on them is escaped (markup.py). Pages forbid inline script and style, framing, and caching.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from raftq.common.errors import RaftqError, Throttled
from raftq.common.metadata_api import KeyCredentials
from raftq.frontend.dashboard import csrf
from raftq.frontend.dashboard.clusters import ClusterView
from raftq.frontend.dashboard.markup import ROOT, Markup, e, field, join, page, tag
from raftq.frontend.dashboard.sessions import Session, Sessions
from raftq.frontend.dashboard.static import SCRIPT, STYLE
from raftq.frontend.http_status import statuses_of
from raftq.frontend.rate_limit import Limit
from raftq.frontend.service import Frontend

SESSION_COOKIE: Final = "raftq_dashboard"
PRE_SESSION_COOKIE: Final = "raftq_dashboard_sign_in"
# Guessing secrets through the form costs as much as through the API: a few tries a second a key.
SIGN_IN_LIMIT: Final = Limit(rate_per_s=1, burst=5)
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Dashboard:
    """The dashboard's state on this frontend: bounded sessions and one cluster snapshot."""

    frontend: Frontend
    sessions: Sessions
    clusters: ClusterView


DASHBOARD: Final = web.AppKey("dashboard", Dashboard)


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: the dashboard, the session and the key it acts as."""

    dashboard: Dashboard
    session: Session
    caller: KeyCredentials

    @property
    def f(self) -> Frontend:
        return self.dashboard.frontend


Handler = Callable[[Visit, web.Request], Awaitable[web.StreamResponse]]


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", headers=HEADERS)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def _cookie(
    response: web.StreamResponse, request: web.Request, name: str, value: str, max_age_s: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        path=ROOT,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def error_page(visit: Visit | None, error: RaftqError) -> web.Response:
    status = statuses_of(error).rest
    body = page(
        "Refused" if status in (401, 403) else "Error",
        Markup(""),
        signed_in_as=None if visit is None else visit.caller.principal_id,
        csrf_token="" if visit is None else visit.session.csrf_token,
        error=error.message,
    )
    return html(body, status)


def refused_page(reason: str) -> web.Response:
    return html(page("Refused", Markup(""), error=f"Refused: {reason}"), 403)


async def _visit(request: web.Request) -> Visit | None:
    dashboard = request.app[DASHBOARD]
    session = dashboard.sessions.use(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    caller = await dashboard.frontend.keys.get(session.key_id)
    if caller is None:  # revoked since sign-in
        dashboard.sessions.end(session.session_id)
        return None
    return Visit(dashboard, session, caller)


def signed_in(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`handler` for signed-in visits only, its POSTs CSRF-checked, its errors as pages."""

    async def serve(request: web.Request) -> web.StreamResponse:
        visit = None
        try:
            visit = await _visit(request)
            if visit is None:
                if request.method == "POST":
                    return refused_page("sign in first")
                if request.query.get("part") == "live":
                    return html("signed out", 401)
                return see_other(f"{ROOT}/sign-in")
            if request.method == "POST":
                form = await request.post()
                token = form.get("csrf_token")
                try:
                    csrf.check(
                        request.headers,
                        token if isinstance(token, str) else None,
                        visit.session.csrf_token,
                        request.host,
                    )
                except csrf.CsrfRefused as refusal:
                    return refused_page(str(refusal))
            response = await handler(visit, request)
        except RaftqError as error:
            return error_page(visit, error)
        if SESSION_COOKIE not in response.cookies:  # signing out deletes it
            _cookie(
                response,
                request,
                SESSION_COOKIE,
                visit.session.session_id,
                visit.dashboard.sessions.idle_s,
            )
        return response

    return serve


# --- sign-in and sign-out ---------------------------------------------------------------------


def _sign_in_page(token: str, error: str = "", key_id: str = "") -> str:
    body = Markup(
        f'<form method="post" action="{ROOT}/sign-in" id="sign-in-form">'
        f'<input type="hidden" name="csrf_token" value="{e(token)}">'
        f"{field('Access key id', 'key_id', key_id)}"
        f"{field('Secret access key', 'secret', kind='password')}"
        '<button type="submit">Sign in</button></form>'
    )
    return page("Sign in", join([tag("p", "Sign in with an access key."), body]), error=error)


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    token = secrets.token_urlsafe(32)
    response = html(_sign_in_page(token))
    _cookie(response, request, PRE_SESSION_COOKIE, token, request.app[DASHBOARD].sessions.idle_s)
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD]
    form = await request.post()
    token, key_id, secret = (form.get(name) for name in ("csrf_token", "key_id", "secret"))
    expected = request.cookies.get(PRE_SESSION_COOKIE, "")
    try:
        csrf.check(
            request.headers,
            token if isinstance(token, str) else None,
            expected or "\0",
            request.host,
        )
    except csrf.CsrfRefused as refusal:
        return refused_page(str(refusal))
    assert isinstance(token, str)
    key_id = key_id if isinstance(key_id, str) else ""
    secret = secret if isinstance(secret, str) else ""
    f = dashboard.frontend
    wrong = "The access key id or secret is wrong (or the key was revoked)."
    if not key_id or len(key_id) > 128 or not key_id.isprintable():
        return html(_sign_in_page(token, wrong), 401)
    decision = f.limiter.take([("dashboard-sign-in", key_id, SIGN_IN_LIMIT)])
    if not decision.allowed:
        throttled = Throttled("too many sign-in attempts", retry_after_s=decision.retry_after_s)
        return html(_sign_in_page(token, f"{throttled.message}; retry later"), 429)
    try:
        credentials = await f.keys.get(key_id)
    except RaftqError as error:
        return html(_sign_in_page(token, error.message, key_id), statuses_of(error).rest)
    if credentials is None or not hmac.compare_digest(credentials.secret.encode(), secret.encode()):
        return html(_sign_in_page(token, wrong, key_id), 401)
    session = dashboard.sessions.start(credentials.key_id)
    response = see_other(f"{ROOT}/")
    _cookie(response, request, SESSION_COOKIE, session.session_id, dashboard.sessions.idle_s)
    response.del_cookie(PRE_SESSION_COOKIE, path=ROOT)
    return response


async def sign_out(visit: Visit, request: web.Request) -> web.StreamResponse:
    visit.dashboard.sessions.end(visit.session.session_id)
    response = see_other(f"{ROOT}/sign-in")
    response.del_cookie(SESSION_COOKIE, path=ROOT)
    return response


# --- static files -------------------------------------------------------------------------------


async def script(request: web.Request) -> web.Response:
    return web.Response(text=SCRIPT, content_type="text/javascript", headers=HEADERS)


async def style(request: web.Request) -> web.Response:
    return web.Response(text=STYLE, content_type="text/css", headers=HEADERS)


async def to_overview(request: web.Request) -> web.StreamResponse:
    return see_other(f"{ROOT}/")

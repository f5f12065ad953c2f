"""Cross-site request forgery: every dashboard POST proves it came from a dashboard page.

Two checks, both required (the session cookie is also SameSite=Strict, a third line):
- the form's `csrf_token` equals its session's token (compared in constant time); the sign-in
  form, which has no session yet, carries the token of a pre-session cookie instead
  (routes.py);
- the request's `Origin` (or, when a browser sends none, its `Referer`) names this dashboard's
  host (host and port; not the scheme, which a load balancer that ends TLS changes). A request
  with neither is refused: every browser that matters sends `Origin` on POST.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit


class CsrfRefused(Exception):
    """Raised when a POST fails either check; its message says which (shown to the user)."""


def check(
    headers: Mapping[str, str], form_token: str | None, expected_token: str, own_host: str
) -> None:
    """Raise `CsrfRefused` unless the POST is the dashboard's own (module docstring)."""
    origin = headers.get("Origin")
    if origin is None or origin == "null":
        origin = headers.get("Referer")
        if origin is None:
            raise CsrfRefused("the request says nothing of where it came from (no Origin)")
    if urlsplit(origin).netloc.lower() != own_host.lower():
        raise CsrfRefused("the request came from another site")
    if not form_token or not hmac.compare_digest(form_token.encode(), expected_token.encode()):
        raise CsrfRefused("the form's token is missing or wrong: reload the page")

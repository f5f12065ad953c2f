"""CSRF checks of dashboard POSTs (csrf.py): the session's token and this host's origin."""

from __future__ import annotations

import pytest

from raftq.frontend.dashboard.csrf import CsrfRefused, check

TOKEN = "t" * 43
HOST = "dash.example:8080"


def test_a_post_of_the_dashboards_own_form_passes() -> None:
    check({"Origin": "https://dash.example:8080"}, TOKEN, TOKEN, HOST)
    check({"Referer": "http://dash.example:8080/dashboard/queues/a"}, TOKEN, TOKEN, HOST)


@pytest.mark.parametrize(
    ("headers", "token", "reason"),
    [
        ({"Origin": "https://dash.example:8080"}, None, "token"),
        ({"Origin": "https://dash.example:8080"}, "", "token"),
        ({"Origin": "https://dash.example:8080"}, "u" * 43, "token"),
        ({"Origin": "https://dash.example:8080"}, TOKEN[:-1], "token"),
        ({"Origin": "https://evil.example"}, TOKEN, "another site"),
        ({"Origin": "https://dash.example:8081"}, TOKEN, "another site"),
        ({"Origin": "null"}, TOKEN, "no Origin"),
        ({}, TOKEN, "no Origin"),
        ({"Referer": "https://evil.example/dash.example:8080"}, TOKEN, "another site"),
    ],
)
def test_a_forged_post_is_refused_saying_why(
    headers: dict[str, str], token: str | None, reason: str
) -> None:
    with pytest.raises(CsrfRefused, match=reason):
        check(headers, token, TOKEN, HOST)

"""HTML for the dashboard, written server-side: every value goes through `e` (html.escape),
and only `Markup` (made here, from escaped parts) is inserted as it is.

Queue names, attributes, task types, errors and message ids are all hostile input: none of
them reaches a page except escaped. Pages load one stylesheet and one script from
`/dashboard/static/` and carry no inline script or style, so the Content-Security-Policy
(routes.py) can forbid both.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

ROOT: Final = "/dashboard"


class Markup(str):
    """A string of HTML that is safe as it is (built here from escaped parts)."""


def e(value: object) -> Markup:
    """`value` escaped for text and attribute values alike; `Markup` stays as it is."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(e(part) for part in parts))


def tag(name: str, content: object = "", **attributes: object) -> Markup:
    """`<name attributes>content</name>`; attribute names come from code, values are escaped
    (`class_` is `class`, `data_x` is `data-x`; None leaves one out, True writes it bare)."""
    rendered = []
    for key, value in attributes.items():
        attribute = key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        rendered.append(f" {attribute}" if value is True else f' {attribute}="{e(value)}"')
    return Markup(f"<{name}{''.join(rendered)}>{e(content)}</{name}>")


def queue_url(name: str, suffix: str = "") -> str:
    return f"{ROOT}/queues/{quote(name, safe='')}{suffix}"


def link(href: str, text: object) -> Markup:
    return tag("a", text, href=href)


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], *, id_: str = "") -> Markup:
    head = join(tag("th", h) for h in headers)
    body = join(tag("tr", join(tag("td", cell) for cell in row)) for row in rows)
    return tag("table", join([tag("thead", tag("tr", head)), tag("tbody", body)]), id=id_ or None)


def hidden_token(csrf_token: str) -> Markup:
    return Markup(f'<input type="hidden" name="csrf_token" value="{e(csrf_token)}">')


def form(action: str, csrf_token: str, content: object, *, button: str, id_: str = "") -> Markup:
    """A POST form to `action` with the session's CSRF token."""
    body = join([hidden_token(csrf_token), content, tag("button", button, type="submit")])
    return tag("form", body, method="post", action=action, id=id_ or None)


def field(label: str, name: str, value: object = "", *, kind: str = "text") -> Markup:
    control = Markup(f'<input type="{e(kind)}" name="{e(name)}" id="{e(name)}" value="{e(value)}">')
    return tag("label", join([label, " ", control]), for_=name)


def when(at_ms: int | None) -> str:
    if at_ms is None:
        return "—"
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:g} s"


def page(
    title: str,
    body: Markup,
    *,
    signed_in_as: str | None = None,
    csrf_token: str = "",
    notice: str = "",
    error: str = "",
) -> Markup:
    """A whole page: navigation (when signed in), a notice or an error, and `body`."""
    nav = Markup("")
    if signed_in_as is not None:
        sign_out = form(f"{ROOT}/sign-out", csrf_token, "", button="Sign out", id_="sign-out")
        nav = tag(
            "nav",
            join(
                [
                    link(f"{ROOT}/", "Overview"),
                    " ",
                    link(f"{ROOT}/tasks", "Tasks"),
                    " ",
                    tag("span", f"signed in as {signed_in_as}", class_="who"),
                    sign_out,
                ]
            ),
        )
    flash = join(
        [
            tag("p", notice, class_="notice", id="notice") if notice else "",
            tag("p", error, class_="error", id="error", role="alert") if error else "",
        ]
    )
    head = join(
        [
            Markup('<meta charset="utf-8">'),
            Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
            tag("title", f"{title} · raftq"),
            Markup(f'<link rel="stylesheet" href="{ROOT}/static/dashboard.css">'),
            Markup(f'<script src="{ROOT}/static/dashboard.js" defer></script>'),
        ]
    )
    main = tag("main", join([tag("h1", title), flash, body]))
    document = join([tag("head", head), tag("body", join([nav, main]))])
    return Markup(f'<!doctype html>\n<html lang="en">{document}</html>')


def live(url: str, content: Markup) -> Markup:
    """The part of a page that dashboard.js replaces every 2 s with a fresh copy from `url`."""
    return tag("section", content, id="live", data_live=url)

"""The overview's queue table and a queue's own page, as HTML (markup.py escapes every value).

Each page splits into its live part (numbers, redrawn every 2 s from `?part=live`) and its forms,
outside the live part so that a refresh never wipes what a user is typing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from raftq.common.results import MessageStatus
from raftq.frontend.dashboard.chart import rate_chart
from raftq.frontend.dashboard.cluster_pages import clusters_section
from raftq.frontend.dashboard.clusters import Snapshot
from raftq.frontend.dashboard.data import QueueDetail, QueueRow
from raftq.frontend.dashboard.markup import (
    Markup,
    e,
    field,
    form,
    join,
    link,
    live,
    queue_url,
    seconds,
    table,
    tag,
    when,
)
from raftq.frontend.dashboard.rates import BUCKET_MS, Direction

QUEUE_HEADERS = (
    "queue",
    "type",
    "visible",
    "in flight",
    "delayed",
    "dead-letter pending",
    "oldest message",
    "send/s",
    "receive/s",
    "delete/s",
)


def _rate(value: float) -> str:
    return f"{value:.2f}"


def _counts(row: QueueRow) -> list[object]:
    stats = row.stats
    if stats is None:
        return [tag("span", row.problem or "—", class_="muted")] + [""] * 4
    age = "—" if row.oldest_age_s is None else f"{row.oldest_age_s} s"
    return [stats.visible, stats.in_flight, stats.delayed, stats.dead_letter_pending, age]


def queue_table(rows: Sequence[QueueRow]) -> Markup:
    if not rows:
        return tag("p", "This key sees no queue.", id="no-queues")
    return table(
        QUEUE_HEADERS,
        (
            [
                link(queue_url(row.queue.name), row.queue.name),
                "FIFO" if row.queue.fifo else "standard",
                *_counts(row),
                _rate(row.rates["send"]),
                _rate(row.rates["receive"]),
                _rate(row.rates["delete"]),
            ]
            for row in rows
        ),
        id_="queues",
    )


def overview_live(rows: Sequence[QueueRow], clusters: Snapshot | None) -> Markup:
    parts: list[object] = [tag("h2", "Queues"), queue_table(rows)]
    if clusters is not None:
        parts.append(clusters_section(clusters))
    return join(parts)


def queue_live(detail: QueueDetail, series: Mapping[Direction, Sequence[int]]) -> Markup:
    row = detail.row
    queue = row.queue
    attributes = queue.attributes
    counts = table(
        ["visible", "in flight", "delayed", "dead-letter pending", "oldest message"],
        [_counts(row)],
        id_="counts",
    )
    described = table(
        ["attribute", "value"],
        [
            ["type", "FIFO" if queue.fifo else "standard"],
            ["visibility timeout", seconds(attributes.visibility_timeout_ms)],
            ["retention", seconds(attributes.retention_ms)],
            ["delivery delay", seconds(attributes.delay_ms)],
            ["receive wait", seconds(attributes.receive_wait_ms)],
            ["max message size", f"{attributes.max_message_bytes} bytes"],
            ["dedup window", seconds(attributes.dedup_window_ms)],
            ["content-based dedup", "yes" if attributes.content_based_dedup else "no"],
            ["created", when(queue.created_at_ms)],
            [
                "dead-letter queue",
                "none"
                if detail.dead_letter_queue is None
                else join(
                    [
                        link(queue_url(detail.dead_letter_queue), detail.dead_letter_queue),
                        f" after {detail.max_receive_count} receives",
                    ]
                ),
            ],
            [
                "dead letters from",
                join(
                    join([", " if i else "", link(queue_url(s), s)])
                    for i, s in enumerate(detail.sources)
                )
                if detail.sources
                else "no queue",
            ],
        ],
        id_="attributes",
    )
    return join(
        [
            tag("h2", "Counts"),
            counts,
            tag("h2", "Rates"),
            rate_chart(series, BUCKET_MS // 1000),
            tag("h2", "Attributes"),
            described,
        ]
    )


def message_status_section(
    name: str, message_id: str, status: MessageStatus | None, problem: str
) -> Markup:
    lookup = Markup(
        f'<form method="get" action="{e(queue_url(name))}" id="status-form">'
        f"{field('Message id', 'message_id', message_id)}"
        '<button type="submit">Look up</button></form>'
    )
    found: object = ""
    if status is not None:
        found = table(
            ["message id", "state", "receive count", "since"],
            [[status.message_id, status.state, status.receive_count, when(status.at_ms)]],
            id_="message-status",
        )
    elif problem:
        found = tag("p", problem, class_="error", id="message-status-error")
    return join([tag("h2", "A message's status"), lookup, found])


def actions_section(detail: QueueDetail, csrf_token: str) -> Markup:
    name = detail.row.queue.name
    attributes = detail.row.queue.attributes
    parts: list[object] = [tag("h2", "Actions")]
    if detail.sources:
        parts.append(
            form(
                queue_url(name, "/redrive"),
                csrf_token,
                tag(
                    "p",
                    "Move every message of this dead-letter queue back to the queue it came from.",
                ),
                button="Redrive to source",
                id_="redrive-form",
            )
        )
    parts.append(
        form(
            queue_url(name, "/purge"),
            csrf_token,
            join(
                [
                    tag("p", "Purge deletes every message of the queue. It cannot be undone."),
                    field("Type the queue's name to confirm", "confirm_name"),
                ]
            ),
            button="Purge",
            id_="purge-form",
        )
    )
    parts.append(
        form(
            queue_url(name, "/attributes"),
            csrf_token,
            join(
                [
                    field(
                        "Visibility timeout (s)",
                        "visibility_timeout_s",
                        attributes.visibility_timeout_ms // 1000,
                        kind="number",
                    ),
                    field(
                        "Retention (s)",
                        "retention_s",
                        attributes.retention_ms // 1000,
                        kind="number",
                    ),
                    field(
                        "Delivery delay (s)", "delay_s", attributes.delay_ms // 1000, kind="number"
                    ),
                    field(
                        "Receive wait (s)",
                        "receive_wait_s",
                        attributes.receive_wait_ms // 1000,
                        kind="number",
                    ),
                    field(
                        "Max message size (bytes)",
                        "max_message_bytes",
                        attributes.max_message_bytes,
                        kind="number",
                    ),
                ]
            ),
            button="Change attributes",
            id_="attributes-form",
        )
    )
    return join(parts)


def queue_page_body(
    detail: QueueDetail,
    series: Mapping[Direction, Sequence[int]],
    status_section: Markup,
    csrf_token: str,
) -> Markup:
    name = detail.row.queue.name
    return join(
        [
            live(queue_url(name, "?part=live"), queue_live(detail, series)),
            status_section,
            actions_section(detail, csrf_token),
        ]
    )

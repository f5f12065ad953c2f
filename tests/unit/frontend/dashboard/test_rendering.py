"""Everything the dashboard renders is escaped (markup.py and the page modules): queue names,
task types, errors, message ids and notices are hostile input."""

from __future__ import annotations

from raftq.common.metadata_models import Placement, Queue
from raftq.common.queue_attributes import QueueAttributes
from raftq.common.results import MessageStatus, QueueStats
from raftq.common.tasks_wire import TaskState
from raftq.frontend import task_models as t
from raftq.frontend.dashboard.chart import rate_chart
from raftq.frontend.dashboard.data import QueueDetail, QueueRow
from raftq.frontend.dashboard.markup import Markup, e, page, table, tag
from raftq.frontend.dashboard.queue_pages import (
    actions_section,
    message_status_section,
    queue_live,
    queue_table,
)
from raftq.frontend.dashboard.rates import Direction
from raftq.frontend.dashboard.task_pages import TaskSummary, summary_live

HOSTILE = "<script>alert('x')</script>\"'&"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&#x27;&amp;"
NO_RATES: dict[Direction, float] = {"send": 0.0, "receive": 0.0, "delete": 0.0}


def hostile_queue() -> Queue:
    """A queue whose name no validation let through: rendering must not rely on validation."""
    return Queue.model_construct(
        queue_id="q-1",
        name=HOSTILE,
        owner="root",
        fifo=False,
        attributes=QueueAttributes(),
        placement=Placement(cluster_id="c1", epoch=1),
        lifecycle="active",
        created_at_ms=0,
    )


def test_text_and_attribute_values_are_escaped_and_markup_is_kept() -> None:
    assert e(HOSTILE) == ESCAPED
    assert e(Markup("<b>kept</b>")) == "<b>kept</b>"
    assert tag("a", HOSTILE, href=HOSTILE) == f'<a href="{ESCAPED}">{ESCAPED}</a>'
    assert HOSTILE not in table([HOSTILE], [[HOSTILE]])


def test_a_page_escapes_its_title_notice_error_and_principal() -> None:
    rendered = page(HOSTILE, Markup(""), signed_in_as=HOSTILE, notice=HOSTILE, error=HOSTILE)
    assert "<script>alert" not in rendered
    assert rendered.count(ESCAPED) == 5  # title, heading, principal, notice, error


def test_a_hostile_queue_name_renders_escaped_everywhere_it_appears() -> None:
    queue = hostile_queue()
    row = QueueRow(
        queue, QueueStats(visible=1, in_flight=2, delayed=3, dead_letter_pending=4), None, NO_RATES
    )
    detail = QueueDetail(row, sources=(HOSTILE,), dead_letter_queue=HOSTILE, max_receive_count=3)
    series: dict[Direction, list[int]] = {"send": [1, 2], "receive": [0, 0], "delete": [0, 1]}
    for rendered in (
        queue_table([row]),
        queue_live(detail, series),
        actions_section(detail, csrf_token=HOSTILE),
        message_status_section(HOSTILE, HOSTILE, None, HOSTILE),
    ):
        assert "<script>" not in rendered and "alert('x')" not in rendered, rendered
    status = MessageStatus(message_id=HOSTILE, state="pending", receive_count=0, at_ms=0)
    assert "<script>" not in message_status_section("q", HOSTILE, status, "")


def test_a_tasks_hostile_type_and_error_render_as_text() -> None:
    task = t.TaskView(
        task_id=HOSTILE,
        type=HOSTILE,
        state=TaskState.DEAD,
        priority=0,
        attempt=1,
        max_attempts=1,
        timeout_s=1.0,
        created_at_ms=0,
        finished_at_ms=0,
        last_error=t.TaskErrorView(type=HOSTILE, message=HOSTILE),
    )
    summary = TaskSummary(HOSTILE, {"dead": HOSTILE}, (task,), ())
    rendered = summary_live(summary, csrf_token=HOSTILE)
    assert "<script>" not in rendered and "alert('x')" not in rendered
    assert ESCAPED in rendered


def test_the_rate_chart_draws_one_line_per_direction_scaled_to_the_peak() -> None:
    chart = rate_chart({"send": [0, 10, 20], "receive": [0, 0, 0], "delete": [5, 5, 5]}, 10)
    assert chart.count("<polyline") == 3
    assert "2 msg/s" in chart  # the peak bucket, 20 messages in 10 s

"""The Celery side of the tasks benchmark: the app its worker and its submitters share.

Broker: the three-node RabbitMQ cluster on 127.0.0.1:5672-5674 (kombu connects to the first
URL of the list and moves on only on failure), one quorum queue (declared by Celery with
x-queue-type=quorum), persistent messages, publisher confirms (each `apply_async` returns once
the broker confirmed the publish), late acks (a task is acked after it ran), no result backend.
`TASKBENCH_PREFETCH` is worker_prefetch_multiplier (the worker holds concurrency x that many
unacked tasks). Runs in Celery's own virtualenv: Celery is not a dependency of raftq.

  celery -A bench.tasks_celery_app worker -P prefork --concurrency 8   (cwd: the repository)
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery  # type: ignore[import-not-found,unused-ignore]

from bench.tasks_common import record_execution

RECORD_DIR = os.environ.get("TASKBENCH_RECORD_DIR", "/tmp/raftq-taskbench/records")
QUEUE = os.environ.get("TASKBENCH_QUEUE", "taskbench")
AMQP_PORTS = (5672, 5673, 5674)

app: Any = Celery(
    "taskbench", broker=";".join(f"amqp://guest:guest@127.0.0.1:{p}//" for p in AMQP_PORTS)
)
app.conf.update(
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    broker_pool_limit=int(os.environ.get("TASKBENCH_POOL_LIMIT", "32")),  # one per submitter
    result_backend=None,
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=int(os.environ.get("TASKBENCH_PREFETCH", "1")),
    task_default_queue=QUEUE,
    task_default_queue_type="quorum",
    worker_detect_quorum_queues=True,
    task_default_delivery_mode="persistent",
    task_serializer="json",
    accept_content=["json"],
)


def _record(tag: str, seq: int, submitted_at_s: float) -> None:
    """The no-op task: it only records that it ran (bench/tasks_common.py)."""
    record_execution(RECORD_DIR, tag, seq, submitted_at_s)


record = app.task(name="taskbench.record", ignore_result=True)(_record)

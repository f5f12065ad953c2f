"""The tasks benchmark's Markdown table: both systems' rows, the kill variant, the machine."""

from __future__ import annotations

import argparse
from typing import Any

from bench.tasks_bench import table

MACHINE = {"cpu": "Some CPU", "cores": 2, "memory_gib": 23.5, "kernel": "6.1", "python": "3.11"}
ARGS = argparse.Namespace(tasks=2000, paced_tasks=500, rate=100.0, prefetch=[1, 4])


def _run(system: str, mode: str, variant: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "system": system,
        "mode": mode,
        "variant": variant,
        "tasks": 2000,
        "tasks_per_s": 400.0,
        "submits_per_s": 900.0,
        "submit_to_start_ms": {"n": 500, "p50": 4.45, "p99": 11.6, "max": 20.0},
        "submit_ms": {"n": 2000, "p50": 1.0, "p99": 2.0, "max": 3.0},
        "cpu_ms_per_task": {"broker": 1.5, "worker": 1.25, "client": 0.5},
        "accounting": {
            "submitted": 2000,
            "executed_once_or_more": 2000,
            "lost": 0,
            "duplicated": 0,
        },
        "load_1min_start": 0.5,
        "versions": {},
        **extra,
    }


def test_the_table_has_a_row_per_system_and_the_machine() -> None:
    results = [
        _run("raftq", "throughput", accounting={"lost": 1, "duplicated": 2}),
        _run("raftq", "paced"),
        _run("celery", "throughput", "prefetch multiplier 1"),
        _run("celery", "paced", "prefetch multiplier 1"),
        _run("celery", "throughput", "prefetch multiplier 4"),
    ]
    results[1]["accounting"] = {"lost": 0, "duplicated": 0}
    text = table(MACHINE, results, ARGS)
    assert "Some CPU, 2 cores, 23.5 GiB RAM, Linux 6.1" in text
    assert "| raftq | 400 | 900 | 4.5 / 11.6 | 1.50 | 1.25 | 1 / 2 |" in text
    assert "| Celery, prefetch multiplier 1 | 400 | 900 | 4.5 / 11.6 |" in text
    # No paced run with prefetch 4: the latency column says so rather than borrowing one.
    assert "| Celery, prefetch multiplier 4 | 400 | 900 | n/a |" in text
    assert "killed" not in text


def test_the_kill_variant_shows_its_accounting() -> None:
    kill = _run(
        "raftq",
        "throughput",
        "kill -9 a worker mid-run",
        accounting={"submitted": 1000, "executed_once_or_more": 1000, "lost": 0, "duplicated": 7},
        submit_ms={"n": 1000},
        task_states={"succeeded": 1000, "retried": 8, "dead": 0, "queued": 0},
        kill={"executed_at_kill": 333},
        lease_s=10.0,
        task_ms=20.0,
        tasks=1000,
        tasks_per_s=None,
    )
    text = table(MACHINE, [kill], ARGS)
    assert "`kill -9` after 333 had run" in text
    assert "| 1,000 | 1,000 | 1,000 | 0 | 7 | 8 | 1,000 | none | n/a |" in text

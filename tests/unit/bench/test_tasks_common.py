"""The tasks benchmark's accounting: records, counts, lost and duplicated, percentiles."""

from __future__ import annotations

import os
from pathlib import Path

from bench import tasks_common as common


def test_executions_are_read_back_with_their_times(tmp_path: Path) -> None:
    common.record_execution(str(tmp_path), "t1", 7, 100.5)
    common.record_execution(str(tmp_path), "other", 1, 1.0)
    [execution] = common.read_records(str(tmp_path), "t1")
    assert execution.seq == 7
    assert execution.submitted_at_s == 100.5
    assert execution.started_at_s > 100.5


def test_the_counter_reads_only_whole_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.1.1"
    counter = common.RecordCounter(str(tmp_path), "t")
    path.write_bytes(b"0 1.0 2.0\n1 1.0 2")
    assert counter.update() == 1  # the second line has no newline yet
    with path.open("ab") as file:
        file.write(b".0\n2 1.0 2.0\n")
    (tmp_path / "t.2.1").write_bytes(b"3 1.0 2.0\n")
    assert counter.update() == 4
    assert counter.update() == 4


def test_accounting_counts_lost_duplicated_and_foreign() -> None:
    executions = [common.Execution(seq, 0.0, 0.0) for seq in (0, 1, 1, 1, 3, 9)]
    assert common.accounting(executions, 4) == {
        "submitted": 4,
        "executions": 6,
        "executed_once_or_more": 3,
        "lost": 1,  # seq 2
        "duplicated": 2,  # seq 1 ran three times
        "foreign": 1,  # seq 9 was never submitted in this run
    }


def test_submit_to_start_takes_each_tasks_first_execution() -> None:
    executions = [
        common.Execution(0, 10.0, 10.5),
        common.Execution(0, 10.0, 12.0),  # a rerun: not the latency of the task
        common.Execution(1, 10.0, 10.25),
    ]
    assert sorted(common.submit_to_start_s(executions)) == [0.25, 0.5]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert common.percentile(values, 50) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert common.percentile(values, 99) == 99.0
    assert common.percentile([], 50) is None
    # round(0.5) == 0: of two values, the p50 is the lower one
    assert common.summary_ms([0.001, 0.002]) == {"n": 2, "p50": 1.0, "p99": 2.0, "max": 2.0}


def test_cpu_of_a_tree_counts_this_process() -> None:
    before = common.sample_trees([os.getpid()])
    sum(i * i for i in range(300_000))
    after = common.sample_trees([os.getpid()])
    assert os.getpid() in after.live_s
    assert common.cpu_between(before, after) >= 0.0
    assert common.cpu_between(after, before) == 0.0  # never negative

"""Log lines (raftq/common/logs.py, log_setup.py): one schema on every JSON line, one line per
record whatever the message holds, a readable human line, flags checked, files rotated by size."""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftq.common import call_context, log_setup
from raftq.common.call_context import CallContext
from raftq.common.errors import BackendUnavailable
from raftq.common.logs import SCHEMA, HumanFormatter, JsonFormatter, component_of, timestamp

HOSTILE = 'line one\nline two\r\n{"level": "critical"}\u2028\x1b[31mred\x00'


def _record(
    message: str = "hello %s",
    args: tuple[object, ...] = ("world",),
    *,
    name: str = "raftq.raft.node",
    level: int = logging.INFO,
    exc_info: BaseException | None = None,
    **extra: object,
) -> logging.LogRecord:
    info = None if exc_info is None else (type(exc_info), exc_info, exc_info.__traceback__)
    record = logging.LogRecord(name, level, __file__, 1, message, args, info)
    record.__dict__.update(extra)
    return record


def _raised() -> ValueError:
    try:
        raise ValueError("a bug")
    except ValueError as error:
        return error


def _json(record: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter(node="n1", process="backend").format(record)
    assert "\n" not in line and "\r" not in line
    decoded: dict[str, object] = json.loads(line)
    return decoded


def test_a_json_line_has_exactly_the_schema_in_order() -> None:
    # Given a record about a queue, logged while a request is being served
    record = _record(event="leader_changed", queue="orders")
    record.created = 1_796_412_855.123456
    with call_context.bound(CallContext().with_request_id("abc-123")):
        line = _json(record)
    # Then the line holds every key of the schema, in order, and nothing else
    assert list(line) == list(SCHEMA)
    assert line == {
        "time": "2026-12-04T19:34:15.123Z",
        "level": "info",
        "node": "n1",
        "component": "backend.raft",
        "request_id": "abc-123",
        "queue": "orders",
        "event": "leader_changed",
        "message": "hello world",
        "error": None,
    }


def test_a_line_without_context_says_null_rather_than_leaving_keys_out() -> None:
    line = _json(_record(name="aiohttp.access"))
    assert list(line) == list(SCHEMA)
    assert line["request_id"] is None and line["queue"] is None and line["event"] is None
    assert line["component"] == "backend.aiohttp"


def test_a_hostile_message_stays_on_one_json_line_and_reads_back_unchanged() -> None:
    line = JsonFormatter(node="n1", process="frontend").format(
        _record("%s", (HOSTILE,), queue=HOSTILE)
    )
    assert len(line.splitlines()) == 1
    assert line.isascii() and "\x1b" not in line and "\x00" not in line
    decoded = json.loads(line)
    assert decoded["message"] == HOSTILE and decoded["queue"] == HOSTILE
    assert decoded["level"] == "info"


def test_an_unexpected_error_carries_its_stack_and_an_expected_one_does_not() -> None:
    error = _json(_record(level=logging.ERROR, exc_info=_raised()))["error"]
    assert isinstance(error, dict) and list(error) == ["type", "message", "stack"]
    assert (error["type"], error["message"]) == ("ValueError", "a bug")
    stack = error["stack"]
    assert "Traceback" in stack and "in _raised" in stack and stack.endswith("ValueError: a bug")

    expected = _json(_record(error=BackendUnavailable("no member could serve")))
    assert expected["error"] == {"type": "BackendUnavailable", "message": "no member could serve"}


def test_the_human_line_is_one_readable_line() -> None:
    record = _record(event="request_failed", queue="orders", error=BackendUnavailable("down"))
    record.created = 0.5
    with call_context.bound(CallContext().with_request_id("abc-123")):
        line = HumanFormatter(node="fe-1", process="frontend").format(record)
    assert line == (
        "1970-01-01T00:00:00.500Z INFO    frontend.raft fe-1 request_failed [abc-123] "
        "queue=orders: hello world (error: BackendUnavailable: down)"
    )


def test_the_human_line_escapes_control_characters_and_indents_a_stack() -> None:
    record = _record("%s", (HOSTILE,), exc_info=_raised())
    lines = HumanFormatter(node="n1", process="backend").format(record).split("\n")
    # The message is one line, its line breaks and escapes shown, not acted on
    assert lines[0].endswith(
        ': line one\\nline two\\r\\n{"level": "critical"}\\u2028\\x1b[31mred\\x00 '
        "(error: ValueError: a bug)"
    )
    # Then the stack, each of its lines indented
    assert lines[1] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in lines[1:])


@pytest.mark.parametrize(
    ("logger", "process", "component"),
    [
        ("raftq.frontend.main", "frontend", "frontend"),
        ("raftq.frontend.request_log", "frontend", "frontend"),
        ("raftq.frontend.sqs.server", "frontend", "frontend.sqs"),
        ("raftq.raft.node", "backend", "backend.raft"),
        ("raftq.raft.snapshot_builder", "metadata", "metadata.raft"),
        ("raftq.common.channel.server", "backend", "backend.channel"),
        ("raftq.common.backend_client", "metadata", "metadata.backend_client"),
        ("raftq.metadata.queue_move", "metadata", "metadata"),
        ("raftq.worker.worker", "worker", "worker"),
        ("pysyncobj.serializer", "backend", "backend.pysyncobj"),
        ("root", "backend", "backend.root"),
    ],
)
def test_the_component_is_the_process_and_the_part_of_it(
    logger: str, process: str, component: str
) -> None:
    assert component_of(logger, process) == component


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    assert timestamp(1_796_412_855.9999) == "2026-12-04T19:34:15.999Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", timestamp(0))


# --- options and set-up -----------------------------------------------------------------------


def _args(*argv: str, default_format: log_setup.LogFormat = "json") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    log_setup.add_log_options(parser, default_format)
    return parser.parse_args(argv)


def test_the_defaults_are_json_at_info_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORMAT", "LEVEL", "FILE", "MAX_BYTES", "BACKUPS"):
        monkeypatch.delenv(f"RAFTQ_LOG_{name}", raising=False)
    assert log_setup.settings_from_args(_args()) == log_setup.LogSettings()
    assert log_setup.settings_from_args(_args(default_format="human")).format == "human"


def test_the_environment_gives_defaults_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFTQ_LOG_FORMAT", "human")
    monkeypatch.setenv("RAFTQ_LOG_LEVEL", "debug")
    monkeypatch.setenv("RAFTQ_LOG_FILE", "/var/log/raftq/n1.log")
    monkeypatch.setenv("RAFTQ_LOG_MAX_BYTES", "1000")
    assert log_setup.settings_from_args(_args()) == log_setup.LogSettings(
        "human", "DEBUG", Path("/var/log/raftq/n1.log"), 1000, log_setup.DEFAULT_BACKUPS
    )
    flagged = log_setup.settings_from_args(_args("--log-format", "json", "--log-level", "ERROR"))
    assert (flagged.format, flagged.level) == ("json", "ERROR")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("--log-format", "xml"), "--log-format"),
        (("--log-level", "LOUD"), "--log-level"),
        (("--log-max-bytes", "1MB"), "--log-max-bytes"),
        (("--log-max-bytes", "-1"), "--log-max-bytes"),
        (("--log-backups", "two"), "--log-backups"),
        (("--log-file", "x.log", "--log-backups", "0"), "--log-backups"),
    ],
)
def test_a_bad_option_is_refused_naming_it(argv: tuple[str, ...], named: str) -> None:
    with pytest.raises(ValueError, match=f"^{named}: "):
        log_setup.settings_from_args(_args(*argv))


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (handlers and level) after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_log_file_rotates_by_size_and_keeps_the_backups_asked(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    # Given a log file rotated at 1000 bytes with two backups
    path = tmp_path / "logs" / "n1.log"
    settings = log_setup.LogSettings(file=path, max_bytes=1000, backups=2)
    log_setup.configure(settings, process="backend", node="n1")
    # When far more than three files' worth is written
    log = logging.getLogger("raftq.raft.node")
    for number in range(60):
        log.info("entry %d\nwith a second line", number, extra={"event": "test_line"})
    # Then there are the file and two backups, each under the limit, each line whole JSON
    assert sorted(p.name for p in path.parent.iterdir()) == ["n1.log", "n1.log.1", "n1.log.2"]
    numbers = []
    for name in ("n1.log.2", "n1.log.1", "n1.log"):
        text = (path.parent / name).read_text()
        assert 0 < len(text.encode()) <= 1000
        for line in text.splitlines():
            record = json.loads(line)
            assert list(record) == list(SCHEMA) and record["event"] == "test_line"
            numbers.append(int(record["message"].split()[1]))
    # And the newest lines are kept, in order, none lost within the files kept
    assert numbers == list(range(numbers[0], 60))


def test_configure_replaces_earlier_handlers_and_sets_the_level(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    logging.basicConfig()  # a handler left by someone else
    path = tmp_path / "w.log"
    settings = log_setup.LogSettings(format="human", level="WARNING", file=path)
    log_setup.configure(settings, process="worker", node="w-1")
    assert len(root_logger.handlers) == 1
    logging.getLogger("raftq.worker.worker").info("not shown")
    logging.getLogger("raftq.worker.worker").warning("shown", extra={"event": "stopping"})
    (line,) = path.read_text().splitlines()
    assert line.endswith(" WARNING worker w-1 stopping: shown")


def test_the_human_line_does_not_repeat_an_error_its_message_quotes() -> None:
    error = BackendUnavailable("no leader yet")
    record = _record("could not report: %s", (error,), error=error)
    line = HumanFormatter(node="n1", process="backend").format(record)
    assert line.endswith(" could not report: no leader yet (error: BackendUnavailable)")


def test_a_log_file_that_cannot_be_written_is_refused_naming_the_flag(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    (tmp_path / "a-file").write_text("")
    handlers = list(root_logger.handlers)
    settings = log_setup.LogSettings(file=tmp_path / "a-file" / "n1.log")
    with pytest.raises(ValueError, match=r"^--log-file: cannot write "):
        log_setup.configure(settings, process="backend", node="n1")
    assert root_logger.handlers == handlers  # nothing changed

"""The logging options every raftq process takes, and the one function that applies them.

`--log-format json|human`, `--log-level`, `--log-file PATH` (rotated by size: `--log-max-bytes`,
`--log-backups`); each flag's default comes from its `RAFTQ_LOG_*` variable when set. Without
`--log-file` lines go to stderr. Rotation is Python's RotatingFileHandler: at the size limit
FILE becomes FILE.1 (FILE.1 becomes FILE.2, …; the oldest beyond `--log-backups` is deleted)
and a new FILE starts, so one process must own each file.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from raftq.common.logs import HumanFormatter, JsonFormatter

LogFormat = Literal["json", "human"]
FORMATS: Final[tuple[LogFormat, ...]] = ("json", "human")
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# 64 MiB a file and 5 backups: under 400 MB a process, days of a busy node's lines at INFO.
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
DEFAULT_BACKUPS: Final = 5


@dataclass(frozen=True, slots=True)
class LogSettings:
    format: LogFormat = "json"
    level: str = "INFO"
    file: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES  # 0: never rotate
    backups: int = DEFAULT_BACKUPS


def add_log_options(parser: argparse.ArgumentParser, default_format: LogFormat = "json") -> None:
    env = os.environ
    parser.add_argument(
        "--log-format",
        default=env.get("RAFTQ_LOG_FORMAT", default_format),
        help=f"json (one object a line) or human (or RAFTQ_LOG_FORMAT; default {default_format})",
    )
    parser.add_argument(
        "--log-level",
        default=env.get("RAFTQ_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (or RAFTQ_LOG_LEVEL; default INFO)",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=env.get("RAFTQ_LOG_FILE") or None,
        help="write log lines here, rotated by size, instead of stderr (or RAFTQ_LOG_FILE)",
    )
    parser.add_argument(
        "--log-max-bytes",
        default=env.get("RAFTQ_LOG_MAX_BYTES", str(DEFAULT_MAX_BYTES)),
        help=f"rotate --log-file at this size; 0: never (default {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument(
        "--log-backups",
        default=env.get("RAFTQ_LOG_BACKUPS", str(DEFAULT_BACKUPS)),
        help=f"rotated files kept, FILE.1 the newest (default {DEFAULT_BACKUPS})",
    )


def settings_from_args(args: argparse.Namespace) -> LogSettings:
    """The options `add_log_options` added; ValueError names the flag of a bad value."""
    log_format = str(args.log_format).lower()
    if log_format not in FORMATS:
        raise ValueError(f"--log-format: {args.log_format!r} is not json or human")
    level = str(args.log_level).upper()
    if level not in LEVELS:
        raise ValueError(f"--log-level: {args.log_level!r} is not one of {', '.join(LEVELS)}")
    max_bytes = _count("--log-max-bytes", args.log_max_bytes)
    backups = _count("--log-backups", args.log_backups)
    if args.log_file is not None and max_bytes > 0 and backups == 0:
        raise ValueError("--log-backups: 0 with --log-max-bytes would empty the file at each turn")
    file = None if args.log_file is None else Path(args.log_file)
    return LogSettings("json" if log_format == "json" else "human", level, file, max_bytes, backups)


def _count(flag: str, value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        raise ValueError(f"{flag}: {value!r} is not a whole number") from None
    if count < 0:
        raise ValueError(f"{flag}: {count} is below 0")
    return count


def configure(settings: LogSettings, *, process: str, node: str) -> None:
    """Route every logger of this process (raftq's and its libraries') through one handler in
    `settings.format`; `process` ("frontend", "backend", …) and `node` stamp each line.
    ValueError, naming --log-file, when the file cannot be opened (nothing changed then)."""
    handler: logging.Handler
    if settings.file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            settings.file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                settings.file,
                maxBytes=settings.max_bytes,
                backupCount=settings.backups,
                encoding="utf-8",
            )
        except OSError as error:
            raise ValueError(f"--log-file: cannot write {settings.file}: {error}") from None
    formatter_type = JsonFormatter if settings.format == "json" else HumanFormatter
    handler.setFormatter(formatter_type(node=node, process=process))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(settings.level)

"""`raftq up`'s frontend flags: rate limits passed on (0: no limit), the usage log off unless
asked for, and bad values refused with the flag named."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from raftq.client.up import FrontendOptions, add_up_command, children

LAYOUT = {"host": "127.0.0.1", "base_port": 7700}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="raftq")
    add_up_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["up", *argv])


def frontend_argv(options: FrontendOptions, data_dir: Path) -> tuple[str, ...]:
    (frontend,) = [c for c in children(data_dir, LAYOUT, options) if c.name == "frontend"]
    return frontend.argv


def options_of(args: argparse.Namespace) -> FrontendOptions:
    return FrontendOptions(
        rate_limit_per_key=args.rate_limit_per_key,
        rate_limit_per_queue=args.rate_limit_per_queue,
        usage_log=args.usage_log,
    )


def test_by_default_the_frontend_keeps_its_limits_and_writes_no_usage_log(tmp_path: Path) -> None:
    argv = frontend_argv(options_of(parse()), tmp_path)
    assert not {"--key-rate", "--queue-rate", "--usage-log"} & set(argv)


def test_rate_limits_and_the_usage_log_are_passed_to_the_frontend(tmp_path: Path) -> None:
    args = parse("--rate-limit-per-key", "0", "--rate-limit-per-queue", "25000", "--usage-log")
    argv = frontend_argv(options_of(args), tmp_path)
    joined = " ".join(argv)
    assert "--key-rate 0" in joined and "--queue-rate 25000" in joined
    assert f"--usage-log {tmp_path / 'usage.log'}" in joined


@pytest.mark.parametrize("value", ["-1", "fast", "inf", "nan"])
def test_a_rate_that_is_not_zero_or_positive_is_refused_naming_the_flag(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse("--rate-limit-per-key", value)
    assert "--rate-limit-per-key" in capsys.readouterr().err

"""Test-wide rules.

In CI (environment variable CI set) a skipped test is a failure: a test that needs a missing
dependency may skip on a developer's machine, but CI must have everything it needs.
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must have every dependency: {report.longrepr}"
    return None

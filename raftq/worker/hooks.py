"""Hooks: the application's code around each attempt (metrics, logs, alerts)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Hook = Callable[..., object]


@dataclass(frozen=True, slots=True)
class Hooks:
    """Called around each attempt (sync or async); an exception in a hook is logged, never the
    task's. on_start(context); on_success(context, result); on_retry(context, error, delay_s);
    on_failure(context, error), for a final failure."""

    on_start: Hook | None = None
    on_success: Hook | None = None
    on_failure: Hook | None = None
    on_retry: Hook | None = None


async def call_hook(hook: Hook | None, *arguments: Any) -> None:
    if hook is None:
        return
    try:
        returned = hook(*arguments)
        if inspect.isawaitable(returned):
            await returned
    except Exception:  # a hook's bug is not the task's failure
        log.exception("hook %r failed", hook, extra={"event": "hook_failed"})

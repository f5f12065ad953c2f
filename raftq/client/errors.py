"""The SDK's errors: what the service said, or what the SDK refused before asking it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raftq.client.task_models import SubmittedTask


class RaftqApiError(Exception):
    """Raised when the service refuses a request; `status`, `code`, `field` say why.
    Status 0 (code `Unreachable`) means no answer came after every retry."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.status} {self.code}: {self.message}" + (
            f" ({self.field})" if self.field else ""
        )

    def copy(self) -> RaftqApiError:
        """The same error as a new object: one failure reported to several callers must not
        share an exception (each raise would grow the others' tracebacks)."""
        return type(self)(self.status, self.code, self.message, self.field)


class InvalidRequest(RaftqApiError, ValueError):
    """Raised when the SDK refuses a call before sending it (an empty or oversized batch), with
    the status, code and field the service would have answered, and the queue in the message."""


class NotFound(RaftqApiError):
    """Raised when the queue or task a call names does not exist (404): a task id that never
    existed, or whose record expired, is never reported as pending."""


class TaskBatchFailed(RaftqApiError):
    """Raised by `submit_tasks` when some tasks were refused: `submitted` holds each request's
    `SubmittedTask` (None where refused), `errors` each refusal by position, and
    `idempotency_keys` each request's key, in order (the same keys make resubmitting safe)."""

    def __init__(
        self,
        queue: str,
        submitted: Sequence[SubmittedTask | None],
        errors: Mapping[int, RaftqApiError],
        idempotency_keys: Sequence[str],
    ) -> None:
        self.queue = queue
        self.submitted = list(submitted)
        self.errors = dict(errors)
        self.idempotency_keys = tuple(idempotency_keys)
        first = min(errors) if errors else None
        cause = errors[first] if first is not None else None
        super().__init__(
            400 if cause is None else cause.status,
            "TaskBatchFailed" if cause is None else cause.code,
            f"{len(self.errors)} of {len(self.submitted)} tasks for queue {queue!r} were "
            "refused" + ("" if cause is None else f"; the first (#{first}): {cause.message}"),
            None if cause is None else f"requests.{first}.{cause.field}" if cause.field else None,
        )

    def copy(self) -> TaskBatchFailed:
        return TaskBatchFailed(self.queue, self.submitted, self.errors, self.idempotency_keys)


class OutcomeUnknown(RaftqApiError):
    """Raised when a call may or may not have been done: an attempt timed out or lost its
    connection after the request went out, or was answered 500, 502, 504 or 503 without
    `Retry-After`, and the SDK could not (or could no longer) settle it by retrying. `status`
    and `code` are the last attempt's 5xx answer; otherwise (a timeout, a lost connection, a
    repeat refused after an earlier attempt's outcome was lost) 0 and `OutcomeUnknown`, and
    the message says what the last attempt met.

    `idempotency_keys` are what makes calling again safe, in request order: a send's dedup id
    (`idempotency_key=`), each entry's dedup id of a batch (`SendEntry(idempotency_key=...)`),
    a receive's `attempt_id`, the receipt handles of a delete or a visibility change. They are
    empty for calls that have none (purge, create/update/delete of a queue): look before
    calling those again."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        idempotency_keys: Sequence[str] = (),
    ) -> None:
        self.idempotency_keys = tuple(idempotency_keys)
        super().__init__(status, code, message, field)

    @property
    def idempotency_key(self) -> str | None:
        """The only key, for a call that has exactly one (a send, a receive)."""
        return self.idempotency_keys[0] if len(self.idempotency_keys) == 1 else None

    def _text(self) -> str:
        keys = ", ".join(repr(key) for key in self.idempotency_keys)
        plural = "s" if len(self.idempotency_keys) > 1 else ""
        return super()._text() + (f" [idempotency key{plural} {keys}]" if keys else "")

    def copy(self) -> OutcomeUnknown:
        return self.with_keys(self.idempotency_keys)

    def with_keys(self, idempotency_keys: Sequence[str]) -> OutcomeUnknown:
        """The same failure as a new object naming other keys (one caller's share of a batch)."""
        return OutcomeUnknown(
            self.status, self.code, self.message, self.field, idempotency_keys=idempotency_keys
        )

"""The SDK's errors: what the service said, or what the SDK refused before asking it."""

from __future__ import annotations


class RaftqApiError(Exception):
    """Raised when the service refuses a request; `status`, `code`, `field` say why.
    Status 0 (code `Unreachable`) means no answer came after every retry."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" ({field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field

    def copy(self) -> RaftqApiError:
        """The same error as a new object: one failure reported to several callers must not
        share an exception (each raise would grow the others' tracebacks)."""
        return type(self)(self.status, self.code, self.message, self.field)


class InvalidRequest(RaftqApiError, ValueError):
    """Raised when the SDK refuses a call before sending it (an empty or oversized batch), with
    the status, code and field the service would have answered, and the queue in the message."""

"""raftq errors as HTTP statuses on both public APIs: the frontend's one table.

Each row is an error family and the status each API answers it with; the first row an error
belongs to decides, so leaves stand before their families. The REST API's statuses name the
condition (401 unsigned, 404 no such queue, 413, 429 with Retry-After); the SQS API answers as
AWS SQS does, which makes most client faults a 400 and signature failures, throttling and
purges in progress a 403. Peer faults are 503 on both: retry, with the same idempotency key.
Each API renders its own error *shape* (REST: rest_routes.error_response; SQS: sqs/errors.py);
the statuses come from here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from raftq.common.errors import (
    AccessDenied,
    ClientError,
    MoveTaskNotFound,
    OverLimit,
    PathNotFound,
    PayloadTooLarge,
    PurgeQueueInProgress,
    QueueNotFound,
    RaftqError,
    ResourceNotFound,
    ScheduleNotFound,
    TaskNotFound,
    Throttled,
    Unauthenticated,
)


@dataclass(frozen=True, slots=True)
class Statuses:
    rest: int
    sqs: int


_TABLE: Final[tuple[tuple[type[RaftqError], Statuses], ...]] = (
    # SQS: MissingAuthenticationToken, SignatureDoesNotMatch, RequestExpired, InvalidClientTokenId
    (Unauthenticated, Statuses(rest=401, sqs=403)),
    (AccessDenied, Statuses(rest=403, sqs=403)),
    (Throttled, Statuses(rest=429, sqs=403)),  # SQS: RequestThrottled
    (QueueNotFound, Statuses(rest=404, sqs=400)),  # SQS: QueueDoesNotExist
    (TaskNotFound, Statuses(rest=404, sqs=400)),
    (PathNotFound, Statuses(rest=404, sqs=400)),
    (ScheduleNotFound, Statuses(rest=404, sqs=400)),
    (PayloadTooLarge, Statuses(rest=413, sqs=400)),  # SQS: InvalidParameterValue
    (PurgeQueueInProgress, Statuses(rest=400, sqs=403)),
    (OverLimit, Statuses(rest=400, sqs=403)),
    # Message move tasks are SQS's alone (SQS: ResourceNotFoundException).
    (MoveTaskNotFound, Statuses(rest=400, sqs=404)),
    (ResourceNotFound, Statuses(rest=400, sqs=404)),
    (ClientError, Statuses(rest=400, sqs=400)),
    (RaftqError, Statuses(rest=503, sqs=503)),
)


def statuses_of(error: RaftqError) -> Statuses:
    """The status `error` is answered with on each API."""
    return next(statuses for kind, statuses in _TABLE if isinstance(error, kind))

"""The one error tree of raftq.

Every failure a caller can see is a leaf of `RaftqError`, named for the condition. Two families say
whose fault it is:

- `ClientError`: the request is wrong (bad input, unknown queue, stale receipt handle). Retrying the
  same request gives the same answer. The edge maps these to 4xx.
- `PeerError`: something we depend on failed (not leader, outcome unknown, storage corrupt). The
  edge maps these to 5xx / 503; a retry with the same idempotency key may succeed.

Each leaf has a stable `code` used on the wire and in state machine results, so an error crosses a
process boundary as data and is rebuilt on the other side with `error_from_code`.
"""

from __future__ import annotations

from typing import ClassVar


class RaftqError(Exception):
    """Base of every raftq error. Raised when an operation cannot complete as asked."""

    code: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


class ClientError(RaftqError):
    """Raised when the caller's request is at fault; the same request fails the same way again."""

    code = "InvalidRequest"


class PeerError(RaftqError):
    """Raised when a dependency (peer node, storage) failed; the caller did nothing wrong."""

    code = "PeerFailure"


# --- client faults -----------------------------------------------------------------------------


class InvalidParameter(ClientError):
    """Raised when a field is malformed or out of range; `field` names it."""

    code = "InvalidParameterValue"


class MissingParameter(ClientError):
    """Raised when a required field is absent (e.g. a FIFO send without a dedup id)."""

    code = "MissingParameter"


class InvalidMessageContents(ClientError):
    """Raised when a message body holds characters SQS does not allow."""

    code = "InvalidMessageContents"


class MessageTooLarge(ClientError):
    """Raised when a message or a batch is larger than the queue or request limit allows."""

    code = "MessageTooLarge"


class QueueNotFound(ClientError):
    """Raised when the named queue does not exist on this replica."""

    code = "QueueDoesNotExist"


class QueueAlreadyExists(ClientError):
    """Raised when a queue is created under an existing name with different attributes."""

    code = "QueueAlreadyExists"


class MessageNotFound(ClientError):
    """Raised when a message id is unknown: never sent here, or removed longer ago than the
    queue keeps statuses for."""

    code = "MessageNotFound"


class TaskNotFound(ClientError):
    """No task of this id exists in the queue (or its record expired)."""

    code = "TaskNotFound"


class UndeclaredTaskType(ClientError):
    """Raised when a task is submitted to a queue that declared its task types (its workers
    declare what they handle) with a type not among them: no worker would run it."""

    code = "UndeclaredTaskType"


class ReceiptHandleInvalid(ClientError):
    """Raised when a receipt handle is malformed, or is not the latest handle of its message."""

    code = "ReceiptHandleIsInvalid"
    # The message of the second case, which the SQS edge tells apart (SQS takes an old handle).
    NOT_LATEST: ClassVar[str] = "the receipt handle is not the latest one of its message"


class MessageNotInflight(ClientError):
    """Raised when visibility is changed for a message that is not in flight."""

    code = "MessageNotInflight"
    # The messages of its two cases, which the SQS edge answers differently.
    GONE: ClassVar[str] = "the message does not exist: it was deleted or has expired"
    NOT_LEASED: ClassVar[str] = "the message is not in flight"


class BatchEntryIdsNotDistinct(ClientError):
    """Raised when two entries of one batch carry the same entry id."""

    code = "BatchEntryIdsNotDistinct"


class EmptyBatchRequest(ClientError):
    """Raised when a batch operation carries no entries."""

    code = "EmptyBatchRequest"


class TooManyEntriesInBatch(ClientError):
    """Raised when a batch carries more entries than allowed."""

    code = "TooManyEntriesInBatchRequest"


class PurgeQueueInProgress(ClientError):
    """Raised when a queue is purged again within 60 s of the previous purge."""

    code = "PurgeQueueInProgress"


class OverLimit(ClientError):
    """Raised when a standard queue already holds the maximum number of in-flight messages."""

    code = "OverLimit"


class DeadLetterQueueInvalid(ClientError):
    """Raised when a redrive target is missing, is the queue itself, or differs in type (FIFO)."""

    code = "InvalidDeadLetterQueue"


class UnsupportedCommand(ClientError):
    """Raised when a command version or kind is not known to this replica."""

    code = "UnsupportedCommand"


class EntryFormatTooNew(UnsupportedCommand):
    """Raised when a Raft entry's format is newer than this node applies (its code's command
    level, or a lower `--max-command-level`): a newer leader wrote it. Apply stops the node on it
    (`CorruptState`) rather than skip an entry the other replicas applied."""

    code = "EntryFormatTooNew"


class DecodeError(ClientError):
    """Raised when bytes do not decode to a valid command or record; `raw` keeps them."""

    code = "DecodeError"

    def __init__(self, message: str, *, raw: bytes, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.raw = raw


class ClusterNotFound(ClientError):
    """Raised when a backend cluster id is not registered."""

    code = "ClusterNotFound"


class PrincipalNotFound(ClientError):
    """Raised when a principal id is unknown."""

    code = "PrincipalNotFound"


class AccessKeyNotFound(ClientError):
    """Raised when an access key id is unknown."""

    code = "AccessKeyNotFound"


class MoveTaskNotFound(ClientError):
    """Raised when a message move task handle is unknown: never started, or finished long enough
    ago that newer tasks of its source queue replaced its record."""

    code = "MoveTaskNotFound"


class ScheduleNotFound(ClientError):
    """Raised when no schedule has the name (on the queue the caller named or may see)."""

    code = "ScheduleNotFound"


class ConflictingState(ClientError):
    """Raised when an operation does not fit the current state of its target (a queue being
    deleted, a cluster re-registered with other members, a key id taken)."""

    code = "ConflictingState"


class AccessDenied(ClientError):
    """Raised when an authenticated caller's principal has no grant for the action on the
    queue."""

    code = "AccessDenied"


class Throttled(ClientError):
    """Raised when a caller or a queue is over its rate limit; `retry_after_s` says when."""

    code = "ThrottlingException"

    def __init__(self, message: str, *, retry_after_s: int = 1, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(ClientError):
    """Raised when a message is larger than its queue allows."""

    code = "PayloadTooLarge"


class Unauthenticated(ClientError):
    """Raised when a request carries no valid signature (missing, wrong, or too old)."""

    code = "Unauthenticated"


class CredentialNotAllowed(ClientError):
    """Raised when an internal request is signed with a credential of a plane that may not
    call its route: a frontend's on an operator's or a node's route, an operator's on a node's
    (docs/internal-api.md)."""

    code = "CredentialNotAllowed"


class FrontendNotFound(ClientError):
    """Raised when a frontend credential is unknown or revoked."""

    code = "FrontendNotFound"


# --- client faults only the SQS protocol names ---------------------------------------------


class UnsupportedOperation(ClientError):
    """Raised when a request names an SQS action raftq does not serve."""

    code = "UnsupportedOperation"


class InvalidAction(ClientError):
    """Raised when a query-protocol request names no action, or one SQS does not have."""

    code = "InvalidAction"


class InvalidAttributeName(ClientError):
    """Raised when a queue or message attribute name is unknown or not allowed."""

    code = "InvalidAttributeName"


class InvalidAttributeValue(ClientError):
    """Raised when a queue attribute's value is malformed or out of range."""

    code = "InvalidAttributeValue"


class InvalidBatchEntryId(ClientError):
    """Raised when a batch entry id is not 1-80 characters of A-Z, a-z, 0-9, '-' and '_'."""

    code = "InvalidBatchEntryId"


class BatchRequestTooLong(ClientError):
    """Raised when the messages of one SendMessageBatch add up to more than a message may be."""

    code = "BatchRequestTooLong"


class ResourceNotFound(ClientError):
    """Raised when a message move task handle or source names nothing that exists."""

    code = "ResourceNotFoundException"


class PathNotFound(ClientError):
    """Raised when a REST request's path is none of the API's routes (or its parameters do not
    have their documented form)."""

    code = "PathNotFound"


# --- a task attempt's failures (raised by the worker, reported as the task's error) ----------


class TaskAttemptFailure(ClientError):
    """A task attempt that did not produce a result for a reason of the worker's, not of the
    handler's code: reported in the task's `last_error` with the code as its type."""

    code = "TaskAttemptFailure"


class TaskTimedOut(TaskAttemptFailure):
    """Raised when a handler ran longer than its task's timeout: the attempt is abandoned
    (cancelled, its thread left behind, or its process terminated) and retried if attempts
    remain."""

    code = "TaskTimedOut"


class UnknownTaskType(TaskAttemptFailure):
    """Raised when a worker leased a task whose type has no handler in its registry: the task
    fails at once (another attempt on the same fleet would meet the same registry)."""

    code = "UnknownTaskType"


class ResultNotJson(TaskAttemptFailure):
    """Raised when a handler returned a value that does not encode as JSON (or whose encoding is
    over the result limit): the task fails, as retrying would return the same kind of value."""

    code = "ResultNotJson"


# --- peer faults -------------------------------------------------------------------------------


class NotLeader(PeerError):
    """Raised when a request reached a node that is not the leader; `leader_hint` names the
    leader when it is known."""

    code = "NotLeader"

    def __init__(self, message: str, *, leader_hint: str | None = None) -> None:
        super().__init__(message)
        self.leader_hint = leader_hint


class OutcomeUnknown(PeerError):
    """Raised when a write may or may not have committed (timeout, leader change). Retry only
    with the same idempotency key."""

    code = "OutcomeUnknown"


class QueueMoved(PeerError):
    """Raised when this cluster does not serve the queue now: it was moved away (fenced by a
    newer placement epoch) or is still being copied in. Ask the metadata service where the
    queue lives and retry there."""

    code = "QueueMoved"


class NoHealthyCluster(PeerError):
    """Raised when no healthy, non-draining backend cluster can take a new queue."""

    code = "NoHealthyCluster"


class BackendUnavailable(PeerError):
    """Raised when no member of a backend cluster accepted a connection."""

    code = "BackendUnavailable"


class NoLeader(BackendUnavailable):
    """Raised when members of a group answered but none was its leader (an election is
    running): nothing was proposed, and the group is up."""


class Overloaded(PeerError):
    """Raised when a node's proposal queue is full; nothing was proposed, retry later."""

    code = "Overloaded"


class UpgradeInProgress(PeerError):
    """Raised when a command needs a newer release than some member of its Raft group runs (a
    rolling upgrade is under way: docs/upgrades.md); nothing was proposed. Retry once every
    member runs the new release."""

    code = "UpgradeInProgress"


class CorruptState(PeerError):
    """Raised when stored bytes fail their checksum or do not decode; the node must not serve."""

    code = "CorruptState"


class DiskFailure(PeerError):
    """Raised when a write or a sync to the node's own disk failed (the disk is full, or an I/O
    error): what the page cache holds is no longer known to be what the disk holds, so the node
    stops, and a restart recovers from what it synced (raftq/raft/disk_failure.py)."""

    code = "DiskFailure"


class ApplyFailed(CorruptState):
    """Raised when applying a committed command hit a bug (an unexpected exception): the
    replica stops applying, as for corruption, rather than skip what the others applied."""

    code = "ApplyFailed"


class CredentialRefused(PeerError):
    """Raised in a caller when a node refused its own credential (revoked, wrong, or not allowed
    on the route): a fault of this process's configuration, never of the request it serves."""

    code = "CredentialRefused"


class InternalError(PeerError):
    """Raised when a bug was hit while applying a command; the command changed nothing."""

    code = "InternalError"


def _leaves(cls: type[RaftqError]) -> list[type[RaftqError]]:
    found: list[type[RaftqError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_leaves(sub))
    return found


ERRORS_BY_CODE: dict[str, type[RaftqError]] = {cls.code: cls for cls in _leaves(RaftqError)}


def error_from_code(code: str, message: str, *, field: str | None = None) -> RaftqError:
    """Rebuild an error that crossed a boundary as (code, message, field)."""
    cls = ERRORS_BY_CODE.get(code, InternalError)
    if cls is DecodeError:
        return DecodeError(message, raw=b"", field=field)
    if cls is NotLeader:
        return NotLeader(message)
    return cls(message, field=field)

"""The frontend's one error-to-status table: each error family's status on the REST API and on
the SQS API, and both APIs taking their statuses from it."""

from __future__ import annotations

import json

import pytest

from raftq.common import envelope, sigv4
from raftq.common.errors import (
    AccessDenied,
    BackendUnavailable,
    ClientError,
    DecodeError,
    InvalidParameter,
    MoveTaskNotFound,
    NotLeader,
    OutcomeUnknown,
    OverLimit,
    Overloaded,
    PayloadTooLarge,
    PeerError,
    PurgeQueueInProgress,
    QueueNotFound,
    RaftqError,
    ResourceNotFound,
    ScheduleNotFound,
    Throttled,
    Unauthenticated,
)
from raftq.frontend.http_status import Statuses, statuses_of
from raftq.frontend.rest_routes import error_response
from raftq.frontend.service import SendOutcomeUnknown
from raftq.frontend.sqs.errors import describe


def _every_error_class() -> list[type[RaftqError]]:
    """RaftqError and all its subclasses, those of common/errors.py and those defined beside
    the code that raises them (sigv4, envelope, the service: imported above)."""
    found, stack = [], [RaftqError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def _instance(cls: type[RaftqError]) -> RaftqError:
    if issubclass(cls, DecodeError):
        return cls("bad bytes", raw=b"")
    if issubclass(cls, SendOutcomeUnknown):
        return cls("lost", retry_keys={"message": "k"})
    if issubclass(cls, NotLeader):
        return cls("not me")
    return cls("wrong", field="name")


@pytest.mark.parametrize(
    ("error", "rest", "sqs"),
    [
        (Unauthenticated("x"), 401, 403),
        (sigv4.SignatureDoesNotMatch("x"), 401, 403),
        (AccessDenied("x"), 403, 403),
        (Throttled("x"), 429, 403),
        (QueueNotFound("x"), 404, 400),
        (PayloadTooLarge("x"), 413, 400),
        (PurgeQueueInProgress("x"), 400, 403),
        (OverLimit("x"), 400, 403),
        (MoveTaskNotFound("x"), 400, 404),
        (ScheduleNotFound("x"), 404, 400),
        (ResourceNotFound("x"), 400, 404),
        (InvalidParameter("x"), 400, 400),
        (ClientError("x"), 400, 400),
        (NotLeader("x"), 503, 503),
        (OutcomeUnknown("x"), 503, 503),
        (BackendUnavailable("x"), 503, 503),
        (envelope.KeyUnavailable("x"), 503, 503),
    ],
)  # fmt: skip
def test_each_error_family_has_a_status_on_each_api(error: RaftqError, rest: int, sqs: int) -> None:
    assert statuses_of(error) == Statuses(rest=rest, sqs=sqs)


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda cls: cls.__name__)
def test_every_error_is_a_4xx_when_the_caller_is_at_fault_and_a_503_otherwise(
    cls: type[RaftqError],
) -> None:
    statuses = statuses_of(_instance(cls))
    if issubclass(cls, ClientError):
        assert 400 <= statuses.rest < 500 and 400 <= statuses.sqs < 500
    else:
        assert issubclass(cls, PeerError) or cls is RaftqError
        assert statuses == Statuses(rest=503, sqs=503)


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda cls: cls.__name__)
def test_both_apis_answer_with_the_tables_status(cls: type[RaftqError]) -> None:
    error = _instance(cls)
    assert error_response(error).status == statuses_of(error).rest
    assert describe(error).status == statuses_of(error).sqs


def test_a_rest_error_is_an_error_view_naming_the_field() -> None:
    response = error_response(QueueNotFound("no queue 'q'", field="name"))
    assert response.status == 404
    assert response.content_type == "application/json"
    assert response.text == (
        '{"code":"QueueDoesNotExist","message":"no queue \'q\'","field":"name",'
        '"retry_with_idempotency_key":null}'
    )


def test_a_throttled_rest_request_says_when_to_retry() -> None:
    response = error_response(Throttled("slow down", retry_after_s=3))
    assert (response.status, response.headers["Retry-After"]) == (429, "3")


def test_an_overloaded_leader_is_a_503_that_says_when_to_retry() -> None:
    response = error_response(Overloaded("too many commands waiting"))
    assert (response.status, response.headers["Retry-After"]) == (503, "1")


def test_a_send_of_unknown_outcome_names_the_keys_to_retry_with() -> None:
    one = error_response(SendOutcomeUnknown("lost", retry_keys={"message": "k1"}))
    assert one.status == 503
    assert one.text is not None
    assert json.loads(one.text)["retry_with_idempotency_key"] == "k1"
    batch = error_response(SendOutcomeUnknown("lost", retry_keys={"a": "k1", "b": "k2"}))
    assert batch.text is not None
    assert json.loads(batch.text)["retry_with_idempotency_key"] == "a=k1,b=k2"

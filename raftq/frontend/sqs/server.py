"""The SQS endpoint: `POST /` (and, for the query protocol, `GET /` and `/<account>/<queue>`).

A request is AWS JSON 1.0 when its content type is `application/x-amz-json-*` (the action in
`X-Amz-Target: AmazonSQS.<Action>`), and otherwise the query protocol (`Action=` in the form
body or the query string), as ElasticMQ tells them apart. Every request is verified as SigV4
with 15 minutes of skew before anything else is read; every answer, error or not, carries
`x-amzn-RequestId`. Members an action does not know are refused, not ignored.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import ValidationError

from raftq.common import call_context
from raftq.common.errors import (
    InvalidAction,
    InvalidParameter,
    PayloadTooLarge,
    RaftqError,
    UnsupportedOperation,
)
from raftq.common.metadata_api import KeyCredentials
from raftq.common.sigv4 import SQS_MAX_SKEW_S
from raftq.frontend import request_log
from raftq.frontend.edge import FRONTEND, meet_expectation, signed_request
from raftq.frontend.service import Frontend
from raftq.frontend.sqs import message_actions as msg
from raftq.frontend.sqs import move_task_actions as moves
from raftq.frontend.sqs import query_protocol
from raftq.frontend.sqs import queue_access_actions as access
from raftq.frontend.sqs import queue_actions as queues
from raftq.frontend.sqs.errors import SqsError, describe
from raftq.frontend.sqs.invalid_values import invalid_value
from raftq.frontend.sqs.names import name_of_url
from raftq.frontend.sqs.params import Params
from raftq.frontend.sqs.request_context import RequestContext, trace_header_of

JSON_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
TARGET_PREFIX: Final = "AmazonSQS."

Handler = Callable[[Frontend, KeyCredentials, Params, RequestContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class SqsAction:
    handler: Handler
    members: frozenset[str]


def _action(handler: Handler, *members: str) -> SqsAction:
    return SqsAction(handler, frozenset(members))


_BATCH = ("QueueUrl", "Entries")
ACTIONS: Final[dict[str, SqsAction]] = {
    "CreateQueue": _action(queues.create_queue, "QueueName", "Attributes", "tags"),
    "GetQueueUrl": _action(queues.get_queue_url, "QueueName", "QueueOwnerAWSAccountId"),
    "ListQueues": _action(queues.list_queues, "QueueNamePrefix", "NextToken", "MaxResults"),
    "DeleteQueue": _action(queues.delete_queue, "QueueUrl"),
    "PurgeQueue": _action(queues.purge_queue, "QueueUrl"),
    "GetQueueAttributes": _action(queues.get_queue_attributes, "QueueUrl", "AttributeNames"),
    "SetQueueAttributes": _action(queues.set_queue_attributes, "QueueUrl", "Attributes"),
    "ListDeadLetterSourceQueues": _action(
        queues.list_dead_letter_source_queues, "QueueUrl", "NextToken", "MaxResults"
    ),
    "SendMessage": _action(
        msg.send_message,
        "QueueUrl",
        "MessageBody",
        "DelaySeconds",
        "MessageAttributes",
        "MessageSystemAttributes",
        "MessageDeduplicationId",
        "MessageGroupId",
    ),
    "SendMessageBatch": _action(msg.send_message_batch, *_BATCH),
    "ReceiveMessage": _action(
        msg.receive_message,
        "QueueUrl",
        "AttributeNames",
        "MessageSystemAttributeNames",
        "MessageAttributeNames",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "WaitTimeSeconds",
        "ReceiveRequestAttemptId",
    ),
    "DeleteMessage": _action(msg.delete_message, "QueueUrl", "ReceiptHandle"),
    "DeleteMessageBatch": _action(msg.delete_message_batch, *_BATCH),
    "ChangeMessageVisibility": _action(
        msg.change_message_visibility, "QueueUrl", "ReceiptHandle", "VisibilityTimeout"
    ),
    "ChangeMessageVisibilityBatch": _action(msg.change_message_visibility_batch, *_BATCH),
    "TagQueue": _action(access.tag_queue, "QueueUrl", "Tags"),
    "UntagQueue": _action(access.untag_queue, "QueueUrl", "TagKeys"),
    "ListQueueTags": _action(access.list_queue_tags, "QueueUrl"),
    "AddPermission": _action(
        access.add_permission, "QueueUrl", "Label", "AWSAccountIds", "Actions"
    ),
    "RemovePermission": _action(access.remove_permission, "QueueUrl", "Label"),
    "StartMessageMoveTask": _action(
        moves.start_message_move_task,
        "SourceArn",
        "DestinationArn",
        "MaxNumberOfMessagesPerSecond",
    ),
    "CancelMessageMoveTask": _action(moves.cancel_message_move_task, "TaskHandle"),
    "ListMessageMoveTasks": _action(moves.list_message_move_tasks, "SourceArn", "MaxResults"),
}


def add_routes(app: web.Application) -> None:
    for method in ("POST", "GET"):
        app.router.add_route(method, "/", serve, expect_handler=meet_expectation)
    queue_url = r"/{account:[0-9]{12}}/{queue:[A-Za-z0-9_.-]{1,80}}"
    app.router.add_route("*", queue_url, serve, expect_handler=meet_expectation)


def _is_json(request: web.Request) -> bool:
    return request.content_type.startswith("application/x-amz-json")


async def serve(request: web.Request) -> web.Response:
    """The request answered, and counted in the frontend's metrics by action and status (an
    action raftq does not serve, or a request refused before its action was read, counts as
    `UNKNOWN_ACTION`)."""
    started = time.monotonic()
    served = _Served()
    usage = request.app[FRONTEND].usage
    try:
        response = await _answer(request, served)
    except web.HTTPException as refused:  # aiohttp's own answers; _answer turns a body over
        # the limit into an SQS error
        usage.request("sqs", served.action, refused.status, time.monotonic() - started)
        raise
    usage.request("sqs", served.action, response.status, time.monotonic() - started)
    return response


UNKNOWN_ACTION: Final = "unknown"


@dataclass
class _Served:
    action: str = UNKNOWN_ACTION


async def _answer(request: web.Request, served: _Served) -> web.Response:
    # The id request_log.py made current (the client's X-Request-Id, or a new one), so that
    # x-amzn-RequestId, X-Request-Id and the logs agree.
    request_id = call_context.current().request_id or request_log.request_id_of(request)
    is_json = _is_json(request)
    try:
        frontend = request.app[FRONTEND]
        caller = await frontend.authenticate(await signed_request(request), SQS_MAX_SKEW_S)
        name, members = await (_json_request(request) if is_json else _query_request(request))
        action = ACTIONS.get(name)
        if action is None:
            raise UnsupportedOperation(f"{name} is not an SQS action raftq serves.")
        served.action = name
        unknown = sorted(set(members) - action.members)
        if unknown:
            raise InvalidParameter(f"{name} has no parameter {unknown[0]}", field=unknown[0])
        _note_queue(request, members.get("QueueUrl"))
        context = RequestContext(
            request.scheme,
            request.host,
            trace_header_of(request.headers.get("X-Amzn-Trace-Id")),
        )
        result = await action.handler(frontend, caller, Params(members), context)
    except (RaftqError, ValidationError) as refused:
        error = invalid_value(refused) if isinstance(refused, ValidationError) else refused
        request_log.note_error(request, error)
        return _error(describe(error), request_id, is_json)
    except web.HTTPRequestEntityTooLarge:  # aiohttp's refusal, raised by the body's first read
        too_large = _body_too_large(request)
        request_log.note_error(request, too_large)
        return _error(describe(too_large), request_id, is_json)
    if is_json:
        return web.Response(
            text=json.dumps(result),
            content_type=JSON_CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )
    return web.Response(
        text=query_protocol.encode(name, result, request_id),
        content_type=query_protocol.CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _body_too_large(request: web.Request) -> PayloadTooLarge:
    limit = request.app[FRONTEND].settings.max_body_bytes
    return PayloadTooLarge(
        f"The request body is longer than this endpoint reads ({limit} bytes).", field="body"
    )


def _note_queue(request: web.Request, url: object) -> None:
    """The queue a request names, for its log lines; the action checks the URL itself."""
    if isinstance(url, str):
        with contextlib.suppress(RaftqError):
            request_log.note_queue(request, name_of_url(url))


async def _json_request(request: web.Request) -> tuple[str, dict[str, Any]]:
    target = request.headers.get("X-Amz-Target", "")
    if not target.startswith(TARGET_PREFIX):
        raise InvalidAction(
            "X-Amz-Target must name an action: AmazonSQS.<Action>", field="X-Amz-Target"
        )
    try:
        members = json.loads(await request.read() or b"{}")
    except ValueError:
        raise InvalidParameter("the body is not valid JSON", field="body") from None
    if not isinstance(members, dict):
        raise InvalidParameter("the body must be a JSON object", field="body")
    return target.removeprefix(TARGET_PREFIX), members


async def _query_request(request: web.Request) -> tuple[str, dict[str, Any]]:
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    if request.method == "POST":
        try:
            text = (await request.read()).decode()
        except UnicodeDecodeError:
            raise InvalidParameter("the form is not UTF-8", field="body") from None
        pairs += parse_qsl(text, keep_blank_values=True)
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidParameter(f"parameter {key} is repeated", field=key)
        form[key] = value
    action = form.get("Action")
    if not action:
        raise InvalidAction("The request must name an Action.", field="Action")
    if action not in ACTIONS:
        raise InvalidAction(f"The action {action} is not valid for this endpoint.", field="Action")
    members = query_protocol.decode(action, form)
    queue = request.match_info.get("queue")
    if queue is not None and "QueueUrl" not in members:  # the query protocol's queue path
        account = request.match_info["account"]
        members["QueueUrl"] = f"{request.scheme}://{request.host}/{account}/{queue}"
    return action, members


def _error(error: SqsError, request_id: str, is_json: bool) -> web.Response:
    headers = {"x-amzn-RequestId": request_id}
    if is_json:
        headers["x-amzn-query-error"] = f"{error.legacy_code};{error.fault}"
        body = {"__type": f"com.amazonaws.sqs#{error.shape}", "message": error.message}
        return web.Response(
            text=json.dumps(body),
            status=error.status,
            content_type=JSON_CONTENT_TYPE,
            headers=headers,
        )
    return web.Response(
        text=query_protocol.encode_error(error, request_id),
        status=error.status,
        content_type=query_protocol.CONTENT_TYPE,
        headers=headers,
    )

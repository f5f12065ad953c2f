"""Queue lifecycle actions: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
GetQueueAttributes, SetQueueAttributes, ListDeadLetterSourceQueues.

The catalogue lives in the metadata service; these actions check SQS's rules, then ask it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from raftq.common import commands as backend
from raftq.common.errors import (
    InvalidAttributeName,
    InvalidParameter,
    QueueAlreadyExists,
    QueueNotFound,
)
from raftq.common.metadata_api import (
    CreateQueueRequest,
    DeleteQueueRequest,
    KeyCredentials,
    SetQueueRequest,
)
from raftq.common.metadata_commands import SetRedriveAllowPolicy
from raftq.common.metadata_models import Queue
from raftq.common.results import Failure, QueueStats
from raftq.frontend.service import Frontend, queue_of
from raftq.frontend.sqs import queue_attributes
from raftq.frontend.sqs.names import ACCOUNT_ID, checked_name, name_of_url
from raftq.frontend.sqs.params import Params
from raftq.frontend.sqs.queue_access_actions import may_see, policy_of, visible_to
from raftq.frontend.sqs.request_context import RequestContext
from raftq.frontend.sqs.tags import checked_tags

LIST_MAX: Final = 1000


async def create_queue(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = checked_name(p.text("QueueName"))
    given = p.text_map("Attributes")
    tags = checked_tags(p.text_map("tags"), "tags")
    fifo = given.get("FifoQueue", "false").lower() == "true"
    if fifo != name.endswith(".fifo"):
        raise InvalidParameter(
            "The name of a FIFO queue must end with the .fifo suffix, and only a FIFO queue "
            "(FifoQueue=true) may have it.",
            field="QueueName",
        )
    parsed = queue_attributes.parse(given, fifo=fifo, creating=True)
    f.authorize(c, name, "admin")
    request = CreateQueueRequest(
        actor=c.principal_id,
        name=name,
        fifo=fifo,
        attributes=parsed.new_queue_attributes(),
        tags=tags,
    )
    result = await _create(f, request)
    f.forwarder.forget(name)
    if result is None:
        await _check_same(f, name, fifo, given)
        return {"QueueUrl": r.queue_url(name)}
    queue_of(result)
    if parsed.redrive_allow_given and parsed.redrive_allow is not None:
        queue_of(
            await f.metadata.execute(
                SetRedriveAllowPolicy(
                    now_ms=0, actor=c.principal_id, name=name, policy=parsed.redrive_allow
                )
            )
        )
    return {"QueueUrl": r.queue_url(name)}


async def _create(f: Frontend, request: CreateQueueRequest) -> Any:
    """The metadata service's answer, or None when a queue of that name exists. The service
    compares every attribute, defaults included, and refuses any difference; SQS compares only
    those the request names, which `_check_same` does."""
    try:
        result = await f.metadata.create_queue(request)
    except QueueAlreadyExists:
        return None
    if isinstance(result, Failure) and result.code == QueueAlreadyExists.code:
        return None
    return result


async def _check_same(f: Frontend, name: str, fifo: bool, given: dict[str, str]) -> None:
    """CreateQueue of an existing queue succeeds when every attribute it names is as asked."""
    existing = (await f.metadata_catalogue()).get(name)
    if existing is None:
        raise QueueAlreadyExists(f"queue {name} is being created or deleted", field="QueueName")
    current = queue_attributes.describe(
        existing, QueueStats(visible=0, in_flight=0, delayed=0, dead_letter_pending=0), None
    )
    current["FifoQueue"] = str(existing.fifo).lower()
    for attribute, value in given.items():
        now = current.get(attribute)
        if attribute in ("RedrivePolicy", "RedriveAllowPolicy") and now is not None and value:
            same = json.loads(now) == _normal_json(value)
        else:
            same = (now or "").lower() == value.lower() or (now is None and value == "")
        if not same:
            raise QueueAlreadyExists(
                f"A queue already exists with the same name and a different value for "
                f"attribute {attribute}",
                field="QueueName",
            )


def _normal_json(value: str) -> Any:
    try:
        document = json.loads(value)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("maxReceiveCount"), str):
        document["maxReceiveCount"] = int(document["maxReceiveCount"])
    return document


async def get_queue_url(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = checked_name(p.text("QueueName"))
    owner = p.optional_text("QueueOwnerAWSAccountId")
    if owner is not None and owner != ACCOUNT_ID:
        raise QueueNotFound("The specified queue does not exist.", field="QueueName")
    visible_to(c, name)
    await f.forwarder.route(name)
    return {"QueueUrl": r.queue_url(name)}


def _page(names: list[str], p: Params) -> tuple[list[str], str | None]:
    """SQS's paging: `MaxResults` (1-1000) names after the `NextToken` (opaque to callers)."""
    limit = p.integer("MaxResults", 1, LIST_MAX)
    token = p.optional_text("NextToken", max_chars=512)
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, ValueError):
            raise InvalidParameter("Invalid NextToken value.", field="NextToken") from None
        names = [n for n in names if n > after]
    page = names[: limit or LIST_MAX]
    more = limit is not None and len(names) > limit
    return page, base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None


async def list_queues(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    prefix = p.optional_text("QueueNamePrefix", max_chars=80) or ""
    catalogue = await f.metadata_catalogue()
    names = sorted(n for n in catalogue if n.startswith(prefix) and may_see(c, n))
    page, token = _page(names, p)
    answer: dict[str, Any] = {"QueueUrls": [r.queue_url(n) for n in page]}
    if token is not None:
        answer["NextToken"] = token
    return answer


async def delete_queue(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    f.authorize(c, name, "admin")
    await f.forwarder.route(name)
    result = await f.metadata.delete_queue(DeleteQueueRequest(actor=c.principal_id, name=name))
    f.forwarder.forget(name)
    if isinstance(result, Failure):
        raise result.to_error()
    return {}


async def purge_queue(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    f.authorize(c, name, "admin")
    await f.forwarder.execute(name, lambda queue_id: backend.PurgeQueue(now_ms=0, queue=queue_id))
    return {}


async def get_queue_attributes(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    wanted = _wanted_attributes(p)
    visible_to(c, name)
    if not wanted:  # SQS answers no attributes when none are named
        await f.forwarder.route(name)  # but still says when the queue does not exist
        return {}
    forwarded = await f.forwarder.execute(
        name, lambda queue_id: backend.GetQueueStats(now_ms=0, queue=queue_id)
    )
    assert isinstance(forwarded.result, QueueStats)
    # One read of the catalogue: routes are cached, attributes and grants may just have changed.
    catalogue = await f.metadata.get("/v1/catalogue") or {}
    queue = next(
        (
            Queue.model_validate_json(json.dumps(q))
            for q in catalogue.get("queues", [])
            if q["name"] == name
        ),
        forwarded.route.queue,
    )
    every = queue_attributes.describe(queue, forwarded.result, policy_of(catalogue, name))
    if "All" in wanted:
        return {"Attributes": every}
    chosen = {k: v for k, v in every.items() if k in wanted}
    return {"Attributes": chosen} if chosen else {}


def _wanted_attributes(p: Params) -> set[str]:
    """The attributes a GetQueueAttributes names: any of SQS's names (`All` for every one),
    including those raftq never sets, which are then simply not in the answer."""
    wanted = set(p.texts("AttributeNames"))
    unknown = wanted - queue_attributes.SQS_NAMES
    if unknown:
        raise InvalidAttributeName(
            f"Unknown Attribute {sorted(unknown)[0]}.", field="AttributeNames"
        )
    return wanted


async def set_queue_attributes(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    given = p.text_map("Attributes")
    if not given:
        raise InvalidParameter(
            "The request must contain the parameter Attribute.", field="Attributes"
        )
    f.authorize(c, name, "admin")
    route = await f.forwarder.route(name)
    parsed = queue_attributes.parse(given, fifo=route.queue.fifo, creating=False)
    changes = parsed.queue_changes()
    if parsed.changes:
        queue_of(
            await f.metadata.set_queue(
                SetQueueRequest(actor=c.principal_id, name=name, changes=changes)
            )
        )
    if parsed.redrive_allow_given:
        queue_of(
            await f.metadata.execute(
                SetRedriveAllowPolicy(
                    now_ms=0, actor=c.principal_id, name=name, policy=parsed.redrive_allow
                )
            )
        )
    return {}


async def list_dead_letter_source_queues(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    visible_to(c, name)
    catalogue = await f.metadata_catalogue()
    if name not in catalogue:
        raise QueueNotFound("The specified queue does not exist.", field="QueueUrl")
    sources = sorted(
        q.name
        for q in catalogue.values()
        if q.attributes.redrive is not None
        and q.attributes.redrive.dead_letter_queue == name
        and may_see(c, q.name)
    )
    page, token = _page(sources, p)
    answer: dict[str, Any] = {"queueUrls": [r.queue_url(n) for n in page]}
    if token is not None:
        answer["NextToken"] = token
    return answer

"""Tags and permissions: TagQueue, UntagQueue, ListQueueTags, AddPermission, RemovePermission.

SQS permissions are statements of a queue's `Policy`; raftq's are grants in the metadata service.
AddPermission adds one grant per principal (SQS's account ids name raftq principals), labelled
so RemovePermission takes them all back; the `Policy` attribute is made from those grants.
A frontend caches a key's grants for a short while (caches.py), so a change reaches every
frontend within that time, not at once."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from raftq.common.errors import AccessDenied, InvalidParameter
from raftq.common.metadata_api import KeyCredentials
from raftq.common.metadata_commands import (
    AddLabelledGrants,
    RemoveLabelledGrants,
    TagQueue,
    UntagQueue,
)
from raftq.common.metadata_models import Action, Grant
from raftq.common.results import Failure
from raftq.frontend.service import Frontend
from raftq.frontend.sqs.names import name_of_url, queue_arn
from raftq.frontend.sqs.params import Params
from raftq.frontend.sqs.request_context import RequestContext
from raftq.frontend.sqs.tags import checked_tag_keys, checked_tags

_LABEL: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_PRINCIPAL: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The SQS actions AddPermission may name, and the raftq grant each needs.
_ACTIONS: Final[dict[str, tuple[Action, ...]]] = {
    "SendMessage": ("send",),
    "SendMessageBatch": ("send",),
    "ReceiveMessage": ("receive",),
    "ChangeMessageVisibility": ("receive",),
    "ChangeMessageVisibilityBatch": ("receive",),
    "GetQueueAttributes": ("receive",),
    "GetQueueUrl": ("receive",),
    "DeleteMessage": ("delete",),
    "DeleteMessageBatch": ("delete",),
    "*": ("send", "receive", "delete"),
}
# And back, for the Policy attribute.
_SQS_ACTIONS: Final[dict[Action, tuple[str, ...]]] = {
    "send": ("SQS:SendMessage",),
    "receive": ("SQS:ReceiveMessage", "SQS:ChangeMessageVisibility", "SQS:GetQueueAttributes"),
    "delete": ("SQS:DeleteMessage",),
    "admin": ("SQS:*",),
}


def may_see(c: KeyCredentials, name: str) -> bool:
    """A caller with any grant on a queue may look it up, read its attributes and tags."""
    return any(
        g.covers(name, action)
        for g in c.grants
        for action in ("send", "receive", "delete", "admin")
    )


def visible_to(c: KeyCredentials, name: str) -> None:
    if not may_see(c, name):
        raise AccessDenied(f"{c.principal_id} has no grant on queue {name!r}", field="QueueUrl")


async def _done(f: Frontend, command: Any) -> Any:
    result = await f.metadata.execute(command)
    if isinstance(result, Failure):
        raise result.to_error()
    return result


async def tag_queue(f: Frontend, c: KeyCredentials, p: Params, r: RequestContext) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    tags = checked_tags(p.text_map("Tags"), "Tags")
    if not tags:
        raise InvalidParameter("The request must contain the parameter Tags.", field="Tags")
    f.authorize(c, name, "admin")
    await _done(f, TagQueue(now_ms=0, actor=c.principal_id, name=name, tags=tags))
    return {}


async def untag_queue(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    keys = checked_tag_keys(p.texts("TagKeys"), "TagKeys")
    if not keys:
        raise InvalidParameter("The request must contain the parameter TagKeys.", field="TagKeys")
    f.authorize(c, name, "admin")
    await _done(f, UntagQueue(now_ms=0, actor=c.principal_id, name=name, keys=tuple(keys)))
    return {}


async def list_queue_tags(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    visible_to(c, name)
    queue = (await f.forwarder.route(name)).queue
    fresh = (await f.metadata_catalogue()).get(name, queue)
    return {"Tags": dict(fresh.tags)} if fresh.tags else {}


async def add_permission(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    label = p.text("Label")
    principals = p.texts("AWSAccountIds")
    sqs_actions = p.texts("Actions")
    if not _LABEL.match(label):
        raise InvalidParameter(
            "Label is 1-80 characters of A-Z, a-z, 0-9, '-' and '_'", field="Label"
        )
    if not principals or not all(_PRINCIPAL.match(x) for x in principals):
        raise InvalidParameter(
            "AWSAccountIds must name raftq principals (1-64 characters of A-Z, a-z, 0-9, "
            "'.', '-', '_')",
            field="AWSAccountIds",
        )
    unknown = [a for a in sqs_actions if a not in _ACTIONS]
    if not sqs_actions or unknown:
        raise InvalidParameter(
            f"Value {unknown[0] if unknown else ''} for parameter ActionName is invalid. "
            f"Reason: AddPermission grants only {', '.join(sorted(_ACTIONS))}.",
            field="Actions",
        )
    actions = tuple(sorted({a for x in sqs_actions for a in _ACTIONS[x]}))
    f.authorize(c, name, "admin")
    await f.forwarder.route(name)
    grants = tuple(
        Grant(principal_id=x, queues=name, actions=actions, label=label)
        for x in sorted(set(principals))
    )
    await _done(
        f, AddLabelledGrants(now_ms=0, actor=c.principal_id, queue=name, label=label, grants=grants)
    )
    return {}


async def remove_permission(
    f: Frontend, c: KeyCredentials, p: Params, r: RequestContext
) -> dict[str, Any]:
    name = name_of_url(p.text("QueueUrl"))
    label = p.text("Label")
    f.authorize(c, name, "admin")
    await _done(f, RemoveLabelledGrants(now_ms=0, actor=c.principal_id, queue=name, label=label))
    return {}


def policy_of(catalogue: dict[str, Any], name: str) -> str | None:
    """The queue's `Policy` attribute (from the catalogue's JSON): one statement per
    AddPermission label."""
    grants = [Grant.model_validate_json(json.dumps(g)) for g in catalogue.get("grants", [])]
    labelled: dict[str, list[Grant]] = {}
    for grant in grants:
        if grant.label is not None and grant.queues == name:
            labelled.setdefault(grant.label, []).append(grant)
    if not labelled:
        return None
    arn = queue_arn(name)
    statements = [
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": sorted(f"arn:aws:iam::{g.principal_id}:root" for g in group)},
            "Action": sorted({s for g in group for a in g.actions for s in _SQS_ACTIONS[a]}),
            "Resource": arn,
        }
        for label, group in sorted(labelled.items())
    ]
    return json.dumps(
        {"Version": "2012-10-17", "Id": f"{arn}/SQSDefaultPolicy", "Statement": statements}
    )

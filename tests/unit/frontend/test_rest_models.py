"""The REST API's models: what they accept, what they refuse (naming the field), and the
OpenAPI document generated from them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, ValidationError

from raftq.frontend import rest_models as m
from raftq.frontend.openapi import ROUTES_DOCUMENTED, SCHEDULE_ROUTES, openapi_document


def refusal(model: type[BaseModel], payload: Any) -> str:
    """The location of the first error `model` gives for `payload` (fails if it accepts)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(payload))
    return ".".join(str(part) for part in caught.value.errors()[0]["loc"])


def test_a_send_takes_text_or_base64_and_its_options() -> None:
    text = m.SendBody.model_validate_json('{"body": "héllo", "priority": 9, "dedup_id": "d-1"}')
    assert text.body_bytes() == "héllo".encode()
    binary = m.SendBody.model_validate_json('{"body_base64": "AP8="}')
    assert binary.body_bytes() == b"\x00\xff"
    attributes = {"trace": {"type": "String", "value": "abc"}}
    assert m.SendBody.model_validate({"body": "x", "attributes": attributes}).attributes


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (m.SendBody, {"body": "x", "priority": 10}, "priority"),
        (m.SendBody, {"body": "x", "delay_s": -1}, "delay_s"),
        (m.SendBody, {"body": "x", "dedup_id": "has space"}, "dedup_id"),
        (m.SendBody, {"body": "x", "dedup_id": "d" * 129}, "dedup_id"),
        (m.SendBody, {"body": "x", "colour": "red"}, "colour"),
        (
            m.SendBody,
            {"body": "x", "attributes": {"a": {"type": "Blob", "value": ""}}},
            "attributes.a.type",
        ),
        (
            m.SendBody,
            {
                "body": "x",
                "attributes": {f"k{i}": {"type": "String", "value": "v"} for i in range(11)},
            },
            "attributes",
        ),
        (m.SendBody, {"priority": 1}, ""),  # no body at all
        (m.SendBody, {"body": "x", "body_base64": "eA=="}, ""),  # both
        (m.SendBody, [], ""),
        (m.CreateQueueBody, {"name": "has space"}, "name"),
        (m.CreateQueueBody, {"name": "q" * 81}, "name"),
        (m.CreateQueueBody, {"name": "orders.fifo"}, ""),  # a FIFO name, not a FIFO queue
        (
            m.CreateQueueBody,
            {"name": "q", "attributes": {"retention_s": 1}},
            "attributes.retention_s",
        ),
        (
            m.CreateQueueBody,
            {"name": "q", "attributes": {"visibility_timeout_s": 43_201}},
            "attributes.visibility_timeout_s",
        ),
        (
            m.CreateQueueBody,
            {"name": "q", "attributes": {"dead_letter": {"queue": "x", "max_receive_count": 0}}},
            "attributes.dead_letter.max_receive_count",
        ),
        (m.SendBatchBody, {"entries": []}, "entries"),
        (m.SendBatchBody, {"entries": [{"id": "a b", "body": "x"}]}, "entries.0.id"),
        (
            m.DeleteBatchBody,
            {"entries": [{"id": "a", "receipt_handle": ""}]},
            "entries.0.receipt_handle",
        ),
        (m.ReceiveQuery, {"max": 101}, "max"),
        (m.ReceiveQuery, {"wait_s": 21}, "wait_s"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    model: type[BaseModel], payload: Any, field: str
) -> None:
    assert refusal(model, payload) == field


def test_base64_that_is_not_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        m.SendBody.model_validate({"body_base64": "not base64!"}).body_bytes()


def test_the_openapi_document_is_valid_and_covers_every_route() -> None:
    document = openapi_document()
    validate(document)  # OpenAPI 3.1, every $ref resolves
    for route in (*ROUTES_DOCUMENTED, *SCHEDULE_ROUTES):
        operation = document["paths"][route.path][route.method]
        assert str(route.status) in operation["responses"]
        assert {"400", "401", "403", "429", "503"} <= set(operation["responses"])
        for name in re.findall(r"{(\w+)}", route.path):
            assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])
        if route.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + route.body.__name__)
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    json.dumps(document)  # serializable as served

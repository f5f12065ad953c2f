"""Schemathesis against the REST API, with every request signed: for each operation of
`/openapi.json`, generated requests (valid and invalid) get no 5xx, and every answer conforms to
the document (status codes, content types, bodies)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from raftq.common.sigv4 import HttpRequest, sign
from raftq.frontend.openapi import openapi_document
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_dict(openapi_document())


class SigV4(requests.auth.AuthBase):
    """Signs a generated request that carries an Authorization header (schemathesis fills in a
    placeholder); one it generated without the header, to see it refused, stays unsigned."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "Authorization" not in request.headers:
            return request
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if not isinstance(body, bytes):
            body = b""  # no body (requests never streams what schemathesis sends)
        request.body = body or None
        headers = {"Host": parts.netloc}
        signed = sign(
            HttpRequest(request.method or "GET", parts.path, parts.query, headers, body),
            self.key_id,
            self.secret,
            datetime.now(UTC),
        )
        request.headers.update(signed)
        return request


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_document(case: schemathesis.Case[Any], deployment: Deployment) -> None:
    session = requests.Session()
    session.auth = SigV4(deployment.key_id, deployment.secret)
    # Excluded: `ignored_auth`, because every signature present is made valid here (refused
    # signatures are tested with real ones in test_frontend.py); `positive_data_acceptance`,
    # because rules beyond the schema (a dead-letter queue must exist; `.fifo` names go with
    # `fifo: true`) answer 400 naming the field, which that check counts as refusing valid data.
    case.call_and_validate(
        base_url=deployment.endpoint,
        session=session,
        excluded_checks=[checks.ignored_auth, checks.positive_data_acceptance],
    )

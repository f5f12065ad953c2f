"""The frontend's request ids and request lines (frontend/request_log.py), on a real aiohttp
server: the client's id or a new one on every answer, and one line for each refused signature
and each 5xx, none for a request that went well."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from raftq.common import call_context
from raftq.common.errors import BackendUnavailable, RaftqError, Unauthenticated
from raftq.common.logs import JsonFormatter
from raftq.frontend import request_log


async def _served(request: web.Request) -> web.Response:
    # The id is current while the request is served: the channel client sends it on from here.
    return web.json_response({"seen": call_context.current().request_id})


def _answering(error: RaftqError, status: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        request_log.note_error(request, error)
        return web.json_response({"code": error.code}, status=status)

    return handler


async def _bug(request: web.Request) -> web.Response:
    raise RuntimeError("a bug\nwith a second line")


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the request log writes during the test, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(node="fe-1", process="frontend"))
    logger = logging.getLogger(request_log.__name__)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


@pytest.fixture
async def endpoint(written: io.StringIO) -> AsyncIterator[tuple[str, io.StringIO]]:
    app = web.Application(middlewares=[request_log.request_ids])
    app.router.add_get("/v1/queues/{name}", _served)
    app.router.add_get("/v1/queues/{name}/down", _answering(BackendUnavailable("down"), 503))
    app.router.add_get("/v1/queues/{name}/unsigned", _answering(Unauthenticated("no"), 401))
    app.router.add_get("/v1/queues/{name}/bug", _bug)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), written
    await server.close()


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, answer.headers["X-Request-Id"], await answer.text()


def _written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_the_clients_request_id_is_current_and_returned(
    endpoint: tuple[str, io.StringIO],
) -> None:
    url, stream = endpoint
    status, returned, body = await _get(f"{url}/v1/queues/orders", {"X-Request-Id": "abc-123"})
    assert (status, returned, json.loads(body)) == (200, "abc-123", {"seen": "abc-123"})
    assert _written(stream) == []  # a request that went well: no line at INFO


@pytest.mark.parametrize("given", [None, "", "a b", "x" * 129, "abc;rm -rf", "<script>"], ids=repr)
async def test_a_missing_or_invalid_request_id_is_replaced_by_a_new_one(
    endpoint: tuple[str, io.StringIO], given: str | None
) -> None:
    url, _ = endpoint
    headers = None if given is None else {"X-Request-Id": given}
    status, returned, body = await _get(f"{url}/v1/queues/orders", headers)
    assert status == 200
    assert str(uuid.UUID(returned)) == returned  # a new UUID, not the client's value
    assert json.loads(body) == {"seen": returned}


async def test_a_5xx_is_one_request_failed_line_naming_the_request_queue_and_error(
    endpoint: tuple[str, io.StringIO],
) -> None:
    url, stream = endpoint
    status, returned, _ = await _get(f"{url}/v1/queues/orders/down", {"X-Request-Id": "r-5xx"})
    assert (status, returned) == (503, "r-5xx")
    (line,) = _written(stream)
    assert line["event"] == "request_failed" and line["level"] == "error"
    assert (line["request_id"], line["queue"]) == ("r-5xx", "orders")
    assert line["message"] == "GET /v1/queues/orders/down answered 503"
    error = line["error"]
    assert isinstance(error, dict)
    assert (error["type"], error["message"]) == ("BackendUnavailable", "down")


async def test_a_refused_signature_is_one_auth_refused_line(
    endpoint: tuple[str, io.StringIO],
) -> None:
    url, stream = endpoint
    status, returned, _ = await _get(f"{url}/v1/queues/orders/unsigned")
    assert status == 401
    (line,) = _written(stream)
    assert (line["event"], line["level"], line["request_id"]) == (
        "auth_refused",
        "warning",
        returned,
    )
    assert line["error"] == {"type": "Unauthenticated", "message": "no"}


async def test_a_bug_is_answered_500_with_the_id_and_logged_once_with_its_stack(
    endpoint: tuple[str, io.StringIO],
) -> None:
    url, stream = endpoint
    status, returned, body = await _get(f"{url}/v1/queues/orders/bug", {"X-Request-Id": "r-bug"})
    assert (status, returned) == (500, "r-bug")
    assert json.loads(body)["code"] == "InternalError" and "a bug" not in body
    (line,) = _written(stream)
    assert (line["event"], line["request_id"], line["queue"]) == (
        "request_failed",
        "r-bug",
        "orders",
    )
    error = line["error"]
    assert isinstance(error, dict) and error["type"] == "RuntimeError"
    assert "Traceback" in error["stack"]


async def test_an_answer_of_aiohttps_own_carries_the_id_too(
    endpoint: tuple[str, io.StringIO],
) -> None:
    url, stream = endpoint
    status, returned, _ = await _get(f"{url}/nowhere", {"X-Request-Id": "r-404"})
    assert (status, returned) == (404, "r-404")
    assert _written(stream) == []

"""A small stand-in for the frontend's message routes, on a real aiohttp server, that records
every request: it validates bodies with the real REST models and answers in the real shapes,
so the SDK's batching can be tested without starting a cluster (tests/integration/test_sdk.py
runs the same calls against a real `raftq up`).

Bodies steer it: `fail` is refused as an entry (400, field `body`), `hold` is held until
`release` is set; a body over `max_message_bytes` refuses the whole request (413), as the real
frontend does; the queues in `missing_queues` (`missing`) do not exist (404).

Counters steer the next requests: `lose_answers` makes it store a send or a batch and then
answer 503 `OutcomeUnknown`, as a frontend whose backend committed after its deadline does;
`stall_answers` makes it act (send, purge, receive) and then not answer until `release` is
set, so the client times out; `drop_connections` makes it act and then close the connection
unanswered; `overloaded` makes a purge refused before anything is done, with 503 and
`Retry-After: 1`, as a leader whose queue is full. Purges and receives do not touch messages:
they are only counted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel, ValidationError

from raftq.frontend import rest_models as m

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class Request:
    route: str  # "one", "batch", "delete", "purge" or "receive"
    queue: str
    bodies: list[str]
    at_s: float  # loop time of arrival
    keys: tuple[str, ...] = ()  # dedup ids of a send, the attempt id of a receive


@dataclass
class FakeFrontend:
    max_message_bytes: int = 1_024
    lose_answers: int = 0
    stall_answers: int = 0
    drop_connections: int = 0
    overloaded: int = 0
    missing_queues: set[str] = field(default_factory=lambda: {"missing"})
    requests: list[Request] = field(default_factory=list)
    stored: dict[str, list[str]] = field(default_factory=dict)  # queue -> bodies, commit order
    ids: dict[str, str] = field(default_factory=dict)  # body -> message id
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requested: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first request
    in_flight: int = 0
    most_in_flight: int = 0
    endpoint: str = ""
    _dedup: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)

    async def first_request(self, timeout_s: float = 5.0) -> None:
        """Returns once a request has arrived (fails the test after `timeout_s`)."""
        await asyncio.wait_for(self.requested.wait(), timeout_s)

    def batches(self) -> list[int]:
        """The number of messages of each request, in arrival order."""
        return [len(r.bodies) for r in self.requests]

    async def start(self) -> TestServer:
        app = web.Application()
        app.router.add_post("/v1/queues/{name}/messages", self._one)
        app.router.add_post("/v1/queues/{name}/messages:batch", self._batch)
        app.router.add_post("/v1/queues/{name}/messages:delete", self._delete)
        app.router.add_delete("/v1/queues/{name}/messages", self._purge)
        app.router.add_get("/v1/queues/{name}/messages", self._receive)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self.endpoint = str(server.make_url("")).rstrip("/")
        return server

    async def _one(self, request: web.Request) -> web.Response:
        body = _parse(m.SendBody, await request.read())
        if isinstance(body, web.Response):
            return body
        queue = request.match_info["name"]
        key = request.headers.get("Idempotency-Key") or body.dedup_id or ""
        if not key.isprintable() or " " in key:
            return _error(400, "InvalidParameter", "not a key", "Idempotency-Key")
        async with self._serving("one", queue, [body.body or ""], (key,)):
            refused = self._refusal(queue, [body])
            if refused is not None:
                return refused
            if body.body == "fail":
                return _error(400, "InvalidParameter", "the body says fail", "body")
            message_id, seq, duplicate = self._store(queue, body.body or "", key)
            if self.lose_answers:
                self.lose_answers -= 1
                return _error(503, "OutcomeUnknown", "the answer was lost")
            await self._after_acting(request)
        return web.json_response(
            {"message_id": message_id, "sequence_number": seq, "duplicate": duplicate},
            status=201,
        )

    async def _batch(self, request: web.Request) -> web.Response:
        parsed = _parse(m.SendBatchBody, await request.read())
        if isinstance(parsed, web.Response):
            return parsed
        queue = request.match_info["name"]
        if len(parsed.entries) > 10:
            return _error(400, "InvalidParameter", "at most 10 entries", "entries")
        bodies = [e.body or "" for e in parsed.entries]
        keys = tuple(e.dedup_id or "" for e in parsed.entries)
        async with self._serving("batch", queue, bodies, keys):
            refused = self._refusal(queue, parsed.entries)
            if refused is not None:
                return refused
            sent: dict[str, Any] = {}
            failed: list[dict[str, Any]] = []
            for entry in parsed.entries:
                if entry.body == "fail":
                    failed.append(
                        {"id": entry.id, "code": "InvalidParameter", "message": "fail",
                         "field": "body"}
                    )  # fmt: skip
                    continue
                message_id, seq, duplicate = self._store(
                    queue, entry.body or "", entry.dedup_id or ""
                )
                sent[entry.id] = {
                    "message_id": message_id, "sequence_number": seq, "duplicate": duplicate
                }  # fmt: skip
            if self.lose_answers:
                self.lose_answers -= 1
                return _error(503, "OutcomeUnknown", "the answer was lost")
            await self._after_acting(request)
        return web.json_response({"sent": sent, "failed": failed})

    async def _delete(self, request: web.Request) -> web.Response:
        parsed = _parse(m.DeleteBatchBody, await request.read())
        if isinstance(parsed, web.Response):
            return parsed
        handles = [e.receipt_handle for e in parsed.entries]
        async with self._serving("delete", request.match_info["name"], handles):
            failed = [
                {"id": e.id, "code": "ReceiptHandleIsInvalid", "message": "no such handle",
                 "field": "receipt_handle"}
                for e in parsed.entries if e.receipt_handle == "gone"
            ]  # fmt: skip
            succeeded = [e.id for e in parsed.entries if e.receipt_handle != "gone"]
        return web.json_response({"succeeded": succeeded, "failed": failed})

    async def _purge(self, request: web.Request) -> web.Response:
        if self.overloaded:
            self.overloaded -= 1
            return _error(503, "Overloaded", "too many commands waiting", retry_after_s=1)
        async with self._serving("purge", request.match_info["name"], []):
            await self._after_acting(request)
        return web.Response(status=204)

    async def _receive(self, request: web.Request) -> web.Response:
        keys = (request.query.get("attempt_id", ""),)
        async with self._serving("receive", request.match_info["name"], [], keys):
            await self._after_acting(request)
        return web.json_response({"messages": []})

    async def _after_acting(self, request: web.Request) -> None:
        """Lose the answer of a request that was carried out, when told to."""
        if self.drop_connections:
            self.drop_connections -= 1
            assert request.transport is not None
            request.transport.close()
        elif self.stall_answers:
            self.stall_answers -= 1
            await self.release.wait()

    def _serving(
        self, route: str, queue: str, bodies: list[str], keys: tuple[str, ...] = ()
    ) -> _Serving:
        now = asyncio.get_running_loop().time()
        self.requests.append(Request(route, queue, bodies, now, keys))
        self.requested.set()
        return _Serving(self, "hold" in bodies)

    def _refusal(self, queue: str, entries: list[Any]) -> web.Response | None:
        if queue in self.missing_queues:
            return _error(404, "QueueDoesNotExist", "no queue missing", "name")
        for entry in entries:
            if len(entry.body_bytes()) > self.max_message_bytes:
                return _error(413, "PayloadTooLarge", "the message is too large", "body")
        return None

    def _store(self, queue: str, body: str, dedup_id: str) -> tuple[str, int, bool]:
        earlier = self._dedup.get((queue, dedup_id))
        if earlier is not None:
            return earlier[0], earlier[1], True
        stored = self.stored.setdefault(queue, [])
        stored.append(body)
        message_id = f"{queue}-{len(stored)}"
        self.ids[body] = message_id
        self._dedup[(queue, dedup_id)] = (message_id, len(stored))
        return message_id, len(stored), False


class _Serving:
    """Counts requests in flight; holds one that carries `hold` until `release` is set."""

    def __init__(self, fake: FakeFrontend, hold: bool) -> None:
        self._fake, self._hold = fake, hold

    async def __aenter__(self) -> None:
        self._fake.in_flight += 1
        self._fake.most_in_flight = max(self._fake.most_in_flight, self._fake.in_flight)
        await asyncio.sleep(0.01)  # a commit takes a while: lets requests overlap if they can
        if self._hold:
            await self._fake.release.wait()

    async def __aexit__(self, *_: object) -> None:
        self._fake.in_flight -= 1


def _parse(model: type[ModelT], raw: bytes) -> ModelT | web.Response:
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        return _error(400, "InvalidParameter", first["msg"], where)


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    retry_after_s: int | None = None,
) -> web.Response:
    headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return web.json_response(
        {"code": code, "message": message, "field": field}, status=status, headers=headers
    )

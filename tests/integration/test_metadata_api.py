"""The internal API of a metadata node refuses bad input with a clear status and the field at
fault, and changes nothing: every POST path, unsigned, malformed, hostile, oversized, and
well-formed requests that do not fit the catalogue."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from raftq.common import codec
from raftq.common.cluster_auth import HEADER, sign
from raftq.common.metadata_api import (
    CREATE_KEY_PATH,
    CREATE_QUEUE_PATH,
    DELETE_QUEUE_PATH,
    METADATA_COMMANDS_PATH,
    MOVE_QUEUE_PATH,
    SET_QUEUE_PATH,
)
from raftq.common.metadata_commands import (
    ActivateQueue,
    CreateQueue,
    RegisterCluster,
    RevokeAccessKey,
)
from raftq.common.metadata_models import Placement
from raftq.common.node_api import NodeError
from raftq.common.queue_attributes import QueueAttributes
from tests.integration.cluster import SECRET, Cluster, three_zone_members

pytestmark = pytest.mark.integration

POST_PATHS = (
    METADATA_COMMANDS_PATH,
    CREATE_QUEUE_PATH,
    SET_QUEUE_PATH,
    DELETE_QUEUE_PATH,
    MOVE_QUEUE_PATH,
    CREATE_KEY_PATH,
)


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # fixarray of one element, `depth` deep, around nil


async def _post(group: Cluster, i: int, path: str, body: bytes, signed: bool = True) -> Any:
    headers = {"Content-Type": "application/x-msgpack"}
    if signed:
        now_ms = time.time_ns() // 1_000_000
        headers[HEADER] = sign(SECRET.encode(), "POST", path, now_ms, body)
    url = f"http://{group.nodes[i].api_address}{path}"
    async with group.session.post(url, data=body, headers=headers) as response:
        return response.status, await response.read()


async def _state(group: Cluster, i: int) -> tuple[int, Any]:
    status = await group.status(i)
    catalogue = await group.get_json(i, "/v1/catalogue")
    assert status is not None and catalogue is not None
    del catalogue["applied_index"], catalogue["served_by"], catalogue["leader"]
    return status["machine_applied_index"], catalogue


async def test_bad_requests_get_a_clear_status_and_change_nothing(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    # Given a metadata group that knows one cluster and one queue
    master_key = tmp_path / "master.key"
    master_key.write_text("22" * 32)
    group = cluster_factory("--master-key-file", str(master_key), kind="metadata")
    group.start_all()
    leader = await group.leader(timeout_s=20)
    client = group.metadata_client()
    members = three_zone_members(7100, 7200)
    await client.execute(RegisterCluster(now_ms=0, actor="root", cluster_id="c1", members=members))
    existing = CreateQueue(
        now_ms=0,
        actor="root",
        queue_id="id-1",
        name="orders",
        attributes=QueueAttributes(delay_ms=1_000),
        placement=Placement(cluster_id="c1", epoch=1),
    )
    await client.execute(existing)
    await client.execute(ActivateQueue(now_ms=0, actor="root", name="orders", queue_id="id-1"))
    await group.converged()
    before = await _state(group, leader)

    # When every POST path gets unsigned, malformed, hostile and oversized bodies
    hostile: dict[str, tuple[bytes, bool, int]] = {
        "unsigned": (msgpack.packb({"actor": "a", "name": "q"}), False, 401),
        "not msgpack": (b"\xc1\xc1garbage", True, 400),
        "a pickle": (pickle.dumps({"actor": "a", "name": "q"}), True, 400),
        "nested 10,000 deep": (_nested(10_000), True, 400),
        "a huge declared map": (b"\xdf\xff\xff\xff\xff", True, 400),
        "not a map": (msgpack.packb([1, 2, 3]), True, 400),
        "unknown field": (msgpack.packb({"actor": "a", "name": "q", "evil": 1}), True, 400),
        "too large": (b"\x00" * (2 << 20), True, 413),
    }
    for path in POST_PATHS:
        for what, (body, signed, expected) in hostile.items():
            status, raw = await _post(group, leader, path, body, signed)
            assert status == expected, (path, what, status, raw[:200])
            if expected != 413:
                error = codec.decode(raw, NodeError)
                assert error.code in ("Unauthenticated", "DecodeError"), (path, what, error)

    # And well-formed requests that do not fit the catalogue name their field
    def request(**fields: Any) -> bytes:
        packed: bytes = msgpack.packb({"actor": "admin", **fields}, use_bin_type=True)
        return packed

    create, set_, move = CREATE_QUEUE_PATH, SET_QUEUE_PATH, MOVE_QUEUE_PATH
    to_self = {"redrive": {"dead_letter_queue": "orders"}}
    refusals = [
        (create, request(name="has space"), "name"),
        (create, request(name="x" * 81), "name"),
        (create, request(name="../etc"), "name"),
        (create, request(name="q", attributes={"delay_ms": -1}), "attributes.delay_ms"),
        (create, request(name="q", attributes={"retention_ms": 10**12}), "attributes.retention_ms"),
        (create, request(name="q.fifo"), "name"),  # a FIFO's name for a standard queue
        (create, request(name="q", attributes={"redrive": {"dead_letter_queue": "no"}}), "redrive"),
        (set_, request(name="nope", changes={"delay_ms": 5}), "name"),
        (set_, request(name="orders", changes={"delay_ms": -5}), "changes.delay_ms"),
        (set_, request(name="orders", changes=to_self), "redrive"),
        (move, request(name="orders", target="c9"), "cluster_id"),
        (move, request(name="orders", target="c1"), "target_cluster"),
        (move, request(name="orders", target="bad id!"), "target"),
        (DELETE_QUEUE_PATH, request(name="no_such_queue"), "name"),
        (CREATE_KEY_PATH, request(principal_id="nobody"), "principal_id"),
    ]
    for path, body, field in refusals:
        status, raw = await _post(group, leader, path, body)
        assert 400 <= status < 500, (path, body, status, raw[:200])
        error = codec.decode(raw, NodeError)
        assert error.field == field, (path, body, error)
    duplicate = existing.model_copy(update={"queue_id": "id-2", "attributes": QueueAttributes()})
    result = await client.execute(duplicate)
    assert result.code == "QueueAlreadyExists" and result.field == "attributes"
    revoke = await client.execute(RevokeAccessKey(now_ms=0, actor="root", key_id="RQ" + "0" * 18))
    assert revoke.code == "AccessKeyNotFound" and revoke.field == "key_id"

    # Then nothing changed but the index of the refused commands that went through the log
    await group.converged()
    after = await _state(group, leader)
    assert after[1] == before[1]
    unsigned_get = await group.session.get(f"http://{group.nodes[leader].api_address}/v1/catalogue")
    assert unsigned_get.status == 401
    unsigned_get.release()

    # And a signed request captured on the wire is useless once it was used
    path = "/v1/catalogue"
    headers = {HEADER: sign(SECRET.encode(), "GET", path, time.time_ns() // 1_000_000, b"")}
    url = f"http://{group.nodes[leader].api_address}{path}"
    for expected in (200, 401):
        async with group.session.get(url, headers=headers) as replayed:
            assert replayed.status == expected

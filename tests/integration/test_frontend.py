"""The public REST API through a real frontend, started by `raftq up` with everything behind it:
the message path end to end, sealed at rest, every authentication failure, authorization per
action, bad input, idempotency, long polls, rate limits, and a second frontend serving when the
first is gone."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from raftq.common.backend_client import BackendClient
from raftq.common.commands import ReceiveMessages, SendEntry, SendMessages
from raftq.common.metadata_api import CreateKeyRequest, MetadataClient
from raftq.common.metadata_commands import AddGrant, CreatePrincipal
from raftq.common.metadata_models import Grant
from raftq.common.results import ReceiveResult, SendResult
from raftq.common.sigv4 import HttpRequest, sign
from tests.integration.conftest import Deployment
from tests.integration.up_process import start_frontend, wait_healthy

pytestmark = pytest.mark.integration


async def call(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: str = "",
    key: tuple[str, str] | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    signed_at: datetime | None = None,
    endpoint: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """A request signed with the root key (or `key`), as any SigV4 client would send it."""
    base = endpoint or deployment.endpoint
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    plain = {
        "Host": base.removeprefix("http://"),
        "Content-Type": "application/json",
        **(headers or {}),
    }
    key_id, secret = key or (deployment.key_id, deployment.secret)
    request = HttpRequest(method, path, query, plain, payload)
    signature = sign(request, key_id, secret, signed_at or datetime.now(UTC))
    url = base + path + (f"?{query}" if query else "")
    async with session.request(method, url, data=payload, headers={**plain, **signature}) as answer:
        text = await answer.text()
        return answer.status, (json.loads(text) if text else None), dict(answer.headers)


async def test_messages_go_end_to_end_and_are_sealed_at_rest(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        status, queue, _ = await call(session, deployment, "POST", "/v1/queues", {"name": "e2e"})
        assert status == 201 and queue["name"] == "e2e"
        attributes = {"trace": {"type": "String", "value": "t-1"}}
        status, sent, _ = await call(
            session,
            deployment,
            "POST",
            "/v1/queues/e2e/messages",
            {"body": "secret plan", "attributes": attributes},
        )
        assert status == 201 and not sent["duplicate"]

        status, received, _ = await call(
            session,
            deployment,
            "GET",
            "/v1/queues/e2e/messages",
            query="max=10&visibility_timeout_s=0",
        )
        assert status == 200
        [message] = received["messages"]
        assert (message["body"], message["attributes"]) == ("secret plan", attributes)
        # The backend holds ciphertext only
        stored = await _raw_backend_receive(session, deployment, "e2e")
        assert stored and b"secret plan" not in stored[0] and b"t-1" not in stored[1]

        status, received, _ = await call(
            session, deployment, "GET", "/v1/queues/e2e/messages", query="max=1"
        )
        handle = received["messages"][0]["receipt_handle"]
        status, _, _ = await call(
            session, deployment, "DELETE", f"/v1/queues/e2e/messages/{handle}"
        )
        assert status == 204
        status, view, _ = await call(session, deployment, "GET", "/v1/queues/e2e")
        assert status == 200 and view["counts"] == {
            "visible": 0,
            "in_flight": 0,
            "delayed": 0,
            "dead_letter_pending": 0,
        }
        assert view["oldest_message_age_s"] is None  # it holds no message
        status, listed, _ = await call(session, deployment, "GET", "/v1/queues", query="prefix=e2")
        assert [q["name"] for q in listed["queues"]] == ["e2e"]


async def test_a_message_that_does_not_open_does_not_cost_the_others(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        # Given a queue holding a good message, then one whose stored bytes are not ciphertext
        # (as if altered on disk), then another good one
        status, _, _ = await call(session, deployment, "POST", "/v1/queues", {"name": "mixed"})
        assert status == 201
        await call(session, deployment, "POST", "/v1/queues/mixed/messages", {"body": "one"})
        bad_id = await _raw_backend_send(session, deployment, "mixed", b"not sealed")
        await call(session, deployment, "POST", "/v1/queues/mixed/messages", {"body": "three"})

        # When all three are received in one batch
        status, received, _ = await call(
            session, deployment, "GET", "/v1/queues/mixed/messages", query="max=10"
        )

        # Then the two good ones are delivered and the bad one is reported, without ids inside
        assert status == 200
        assert sorted(m["body"] for m in received["messages"]) == ["one", "three"]
        [undeliverable] = received["undeliverable"]
        assert undeliverable["message_id"] == bad_id and "q-" not in undeliverable["reason"]
        # And it stays in flight until its visibility timeout, with the two delivered
        status, view, _ = await call(session, deployment, "GET", "/v1/queues/mixed")
        assert view["counts"]["in_flight"] == 3 and view["counts"]["visible"] == 0
        # And the oldest message's age counts messages in flight too
        assert 0 <= view["oldest_message_age_s"] < 60


async def test_a_legal_message_is_accepted_however_its_json_escapes_it(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "accents"})
        # Given 400,000 "é": 800,000 bytes of UTF-8, under the 1 MiB limit, but 2.4 MB of JSON
        # the way json.dumps writes it by default (each one as \u00e9)
        body = "é" * 400_000
        raw = json.dumps({"body": body}).encode()
        assert len(raw) > 2 << 20
        # When it is sent, it is accepted and comes back whole
        status, _, _ = await call(
            session, deployment, "POST", "/v1/queues/accents/messages", raw=raw
        )
        assert status == 201
        status, received, _ = await call(
            session, deployment, "GET", "/v1/queues/accents/messages", query="max=1"
        )
        assert status == 200 and received["messages"][0]["body"] == body
        # And one byte over the queue's limit, measured after decoding, is a 413 naming the queue
        over = json.dumps({"body": "é" * 524_288 + "x"}).encode()
        status, error, _ = await call(
            session, deployment, "POST", "/v1/queues/accents/messages", raw=over
        )
        assert status == 413 and error["field"] == "body" and "accents" in error["message"]


async def test_dead_letters_still_open_after_their_source_queue_was_deleted(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        # Given a message dead-lettered from "gone-src" into "gone-dlq" (max receive count 1)
        await call(session, deployment, "POST", "/v1/queues", {"name": "gone-dlq"})
        policy = {"dead_letter": {"queue": "gone-dlq", "max_receive_count": 1}}
        status, _, _ = await call(
            session, deployment, "POST", "/v1/queues", {"name": "gone-src", "attributes": policy}
        )
        assert status == 201
        await call(session, deployment, "POST", "/v1/queues/gone-src/messages", {"body": "kept"})
        for _ in range(2):  # the second receive finds it past its count and moves it
            await call(
                session,
                deployment,
                "GET",
                "/v1/queues/gone-src/messages",
                query="max=1&visibility_timeout_s=0",
            )
        # When the source queue is deleted
        status, _, _ = await call(session, deployment, "DELETE", "/v1/queues/gone-src")
        assert status in (200, 204)

        # Then the dead letter, sealed by the source's key, still opens
        status, received, _ = await call(
            session, deployment, "GET", "/v1/queues/gone-dlq/messages", query="max=1"
        )
        assert status == 200 and not received["undeliverable"]
        assert [m["body"] for m in received["messages"]] == ["kept"]


async def _backend_of(
    session: aiohttp.ClientSession, deployment: Deployment, name: str
) -> tuple[BackendClient, str]:
    """A client of the queue's backend cluster (past the frontend), and the queue's id."""
    env = deployment.env
    metadata = MetadataClient(
        env["RAFTQ_METADATA"].split(","), env["RAFTQ_CLUSTER_SECRET"], session
    )
    found = await metadata.get(f"/v1/queues/{name}")
    assert found is not None
    members = [m["api_address"] for m in found["cluster"]["members"]]
    backend = BackendClient(members, env["RAFTQ_CLUSTER_SECRET"], session)
    return backend, found["queue"]["queue_id"]


async def _raw_backend_send(
    session: aiohttp.ClientSession, deployment: Deployment, name: str, body: bytes
) -> str:
    """Store `body` as it is, past the frontend's sealing; the message id."""
    backend, queue_id = await _backend_of(session, deployment, name)
    entry = SendEntry(entry_id="bad", body=body, dedup_id="bad")
    result = await backend.execute(SendMessages(now_ms=0, queue=queue_id, entries=(entry,)))
    assert isinstance(result, SendResult)
    return result.sent[0].message_id


async def _raw_backend_receive(
    session: aiohttp.ClientSession, deployment: Deployment, name: str
) -> tuple[bytes, bytes] | None:
    """What the backend cluster stores for the queue's next message (body, attributes)."""
    backend, queue_id = await _backend_of(session, deployment, name)
    result = await backend.execute(
        ReceiveMessages(now_ms=0, queue=queue_id, max_messages=1, visibility_timeout_ms=0)
    )
    assert isinstance(result, ReceiveResult)
    return (result.messages[0].body, result.messages[0].attributes) if result.messages else None


async def test_every_authentication_failure_is_401_with_its_reason(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "auth"})
        url = deployment.endpoint + "/v1/queues/auth"
        async with session.get(url) as unsigned:
            assert unsigned.status == 401
            assert (await unsigned.json())["code"] == "Unauthenticated"
        # An expectation the server does not know changes nothing (not a 417 before auth)
        async with session.get(url, headers={"Expect": "something-else"}) as expecting:
            assert expecting.status == 401
        cases: dict[str, dict[str, Any]] = {
            "SignatureDoesNotMatch": {"key": (deployment.key_id, "not the secret")},
            "InvalidClientTokenId": {"key": ("RQUNKNOWNKEY00000000", "whatever")},
            "RequestExpired": {"signed_at": datetime.now(UTC) - timedelta(minutes=6)},
        }
        for code, changes in cases.items():
            status, error, _ = await call(session, deployment, "GET", "/v1/queues/auth", **changes)
            assert (status, error["code"]) == (401, code), (code, error)


async def test_grants_decide_each_action_and_403_says_so(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        env = deployment.env
        metadata = MetadataClient(
            env["RAFTQ_METADATA"].split(","), env["RAFTQ_CLUSTER_SECRET"], session
        )
        await metadata.execute(CreatePrincipal(now_ms=0, actor="test", principal_id="producer"))
        grant = Grant(principal_id="producer", queues="jobs-*", actions=("send",))
        await metadata.execute(AddGrant(now_ms=0, actor="test", grant=grant))
        created = await metadata.create_key(CreateKeyRequest(actor="test", principal_id="producer"))
        producer = (created.key_id, created.secret)
        await call(session, deployment, "POST", "/v1/queues", {"name": "jobs-1"})
        status, _, _ = await call(
            session, deployment, "POST", "/v1/queues/jobs-1/messages", {"body": "x"}, key=producer
        )
        assert status == 201
        for method, path, body in [
            ("GET", "/v1/queues/jobs-1/messages", None),
            ("POST", "/v1/queues", {"name": "jobs-2"}),
            ("DELETE", "/v1/queues/jobs-1", None),
        ]:
            status, error, _ = await call(session, deployment, method, path, body, key=producer)
            assert (status, error["code"]) == (403, "AccessDenied"), (method, path, error)
        status, error, _ = await call(
            session, deployment, "POST", "/v1/queues/e2e/messages", {"body": "x"}, key=producer
        )
        assert status == 403


async def test_bad_input_gets_a_clear_error_naming_the_field(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "bad"})
        cases: list[tuple[str, str, Any, bytes | None, int, str | None]] = [
            ("POST", "/v1/queues/bad/messages", None, b"{not json", 400, None),
            (
                "POST",
                "/v1/queues/bad/messages",
                {"body": "x", "priority": 99},
                None,
                400,
                "priority",
            ),
            (
                "POST",
                "/v1/queues/bad/messages",
                {"body": "x", "colour": "red"},
                None,
                400,
                "colour",
            ),
            ("POST", "/v1/queues", {"name": "has space"}, None, 400, "name"),
            (
                "POST",
                "/v1/queues/bad/messages:batch",
                {"entries": [{"id": f"e{i}", "body": "x"} for i in range(11)]},
                None,
                400,
                "entries",
            ),
            ("GET", "/v1/queues/nope", None, None, 404, None),
            ("POST", "/v1/queues/nope/messages", {"body": "x"}, None, 404, None),
            ("DELETE", "/v1/queues/bad/messages/not-a-handle", None, None, 400, "receipt_handle"),
        ]
        for method, path, body, raw, expected, field in cases:
            status, error, _ = await call(session, deployment, method, path, body, raw=raw)
            assert status == expected, (path, body, error)
            if field is not None:
                assert error["field"] == field, (path, body, error)
        # A body over the queue's limit, and a request over the frontend's, are both 413
        for size in (3 << 20, 7 << 20):
            huge = json.dumps({"body": "x" * size}).encode()
            status, error, _ = await call(
                session, deployment, "POST", "/v1/queues/bad/messages", raw=huge
            )
            assert status == 413 and error["field"] == "body", (size, error)
            assert size > 6 << 20 or "bad" in error["message"], error
        status, view, _ = await call(session, deployment, "GET", "/v1/queues/bad")
        assert view["counts"]["visible"] == 0  # nothing of the above was stored


async def test_an_idempotency_key_makes_a_retried_send_a_duplicate(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "idem"})
        answers = [
            await call(
                session,
                deployment,
                "POST",
                "/v1/queues/idem/messages",
                {"body": "once"},
                headers={"Idempotency-Key": "order-42"},
            )
            for _ in range(2)
        ]
        assert [a[0] for a in answers] == [201, 201]
        assert (
            answers[0][1]["message_id"] == answers[1][1]["message_id"]
            and answers[1][1]["duplicate"]
        )
        _status, view, _ = await call(session, deployment, "GET", "/v1/queues/idem")
        assert view["counts"]["visible"] == 1


async def test_a_long_poll_returns_soon_after_a_send(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "poll"})
        started = time.monotonic()
        waiting = asyncio.create_task(
            call(session, deployment, "GET", "/v1/queues/poll/messages", query="max=1&wait_s=10")
        )
        await asyncio.sleep(0.5)
        await call(session, deployment, "POST", "/v1/queues/poll/messages", {"body": "wake"})
        sent_at = time.monotonic()  # acknowledged: from here the waiting receive must return
        status, received, _ = await waiting
        assert status == 200 and [m["body"] for m in received["messages"]] == ["wake"]
        woke_after = time.monotonic() - sent_at
        assert woke_after < 0.1, woke_after  # issue 6: within 100 ms of the send
        assert time.monotonic() - started < 5


async def test_a_second_frontend_serves_and_rate_limits(
    deployment: Deployment, tmp_path: Path
) -> None:
    second, endpoint = start_frontend(
        deployment, tmp_path, "--master-key", f"k1={deployment.data_dir / 'frontend.key'}",
        "--key-rate", "5",
    )  # fmt: skip
    try:
        await wait_healthy(endpoint)
        async with aiohttp.ClientSession() as session:
            await call(session, deployment, "POST", "/v1/queues", {"name": "second"})
            statuses = []
            for i in range(12):  # a burst of 10 at 5/s, then 429
                status, _, headers = await call(
                    session,
                    deployment,
                    "POST",
                    "/v1/queues/second/messages",
                    {"body": f"m{i}"},
                    endpoint=endpoint,
                )
                statuses.append(status)
            assert statuses[:10] == [201] * 10 and 429 in statuses[10:]
            assert int(headers.get("Retry-After", "0")) >= 1
            # What this frontend sealed, the other one opens (they share the master key)
            status, received, _ = await call(
                session, deployment, "GET", "/v1/queues/second/messages", query="max=10"
            )
            assert status == 200 and {m["body"] for m in received["messages"]} <= {
                f"m{i}" for i in range(12)
            }
    finally:
        second.kill()
        second.wait()


async def test_usage_is_counted_in_metrics_and_the_usage_log(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(deployment.endpoint + "/readyz") as ready:
            assert ready.status == 200
        await call(session, deployment, "POST", "/v1/queues", {"name": "metered"})
        for body in ("one", "two"):
            await call(session, deployment, "POST", "/v1/queues/metered/messages", {"body": body})
        await call(session, deployment, "GET", "/v1/queues/metered/messages", query="max=10")
        async with session.get(deployment.env["RAFTQ_FRONTEND_METRICS"]) as answer:
            metrics = await answer.text()
        async with session.get(deployment.endpoint + "/metrics") as public:
            assert public.status == 404  # it names keys and queues: not on the public port
    labels = f'action="send",key="{deployment.key_id}",queue="metered"'
    assert f"raftq_frontend_messages_total{{{labels}}} 2.0" in metrics
    assert (
        'raftq_frontend_requests_total{action="POST /v1/queues/{name}/messages",api="rest",'
        'status="201"}' in metrics
    )
    lines = [
        json.loads(line) for line in (deployment.data_dir / "usage.log").read_text().splitlines()
    ]
    mine = [(r["action"], r["messages"]) for r in lines if r["queue"] == "metered"]
    assert mine == [("send", 1), ("send", 1), ("receive", 2)]
    assert all(
        r["key"] == deployment.key_id and r["bytes"] > 0 for r in lines if r["queue"] == "metered"
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raftq test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_a_frontend_with_a_certificate_serves_https_only(
    deployment: Deployment, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls, endpoint = start_frontend(
        deployment, tmp_path, "--master-key", f"k1={deployment.data_dir / 'frontend.key'}",
        "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    port = int(endpoint.rsplit(":", 1)[1])
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(
                        f"https://127.0.0.1:{port}/healthz", ssl=trusted
                    ) as answer:
                        assert answer.status == 200
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the TLS frontend did not start")
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as plain:
                    assert plain.status != 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(f"https://127.0.0.1:{port}/healthz"):
                    pass  # not trusted without the certificate
    finally:
        tls.kill()
        tls.wait()


def admin_run(deployment: Deployment, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftq.client.cli", "admin", *argv],
        env={**os.environ, **deployment.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_rotating_the_master_key_keeps_every_stored_message(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Given messages sealed under data keys wrapped by the old master key (k1)
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "rotated"})
        for body in ("before-1", "before-2"):
            await call(session, deployment, "POST", "/v1/queues/rotated/messages", {"body": body})
    old_key = deployment.data_dir / "frontend.key"
    new_key = tmp_path / "k2.key"
    new_key.write_text(os.urandom(32).hex())

    # When every data key is rewrapped under a new master key (k2)
    rewrap = admin_run(
        deployment, "--json", "data-keys", "rewrap",
        "--master-key", f"k1={old_key}", "--master-key", f"k2={new_key}",
        "--current-master-key", "k2",
    )  # fmt: skip
    assert rewrap.returncode == 0, rewrap.stderr
    assert json.loads(rewrap.stdout)["rewrapped"] >= 1

    # Then a frontend holding only the new master key opens every old message
    frontend, endpoint = start_frontend(deployment, tmp_path, "--master-key", f"k2={new_key}")
    try:
        await wait_healthy(endpoint)
        async with aiohttp.ClientSession() as session:
            status, received, _ = await call(
                session,
                deployment,
                "GET",
                "/v1/queues/rotated/messages",
                query="max=10",
                endpoint=endpoint,
            )
            assert status == 200, received
            assert sorted(m["body"] for m in received["messages"]) == ["before-1", "before-2"]
    finally:
        frontend.kill()
        frontend.wait()
    # And rewrapping without the old key is refused clearly
    refused = admin_run(
        deployment, "data-keys", "rewrap", "--master-key", f"k3={new_key}",
        "--current-master-key", "k3",
    )  # fmt: skip
    assert refused.returncode == 1 and "does not hold" in refused.stderr


async def test_visibility_of_one_message_and_a_delete_that_keeps_a_result(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "work"})
        _, sent, _ = await call(
            session, deployment, "POST", "/v1/queues/work/messages", {"body": "job"}
        )
        _, first, _ = await call(
            session, deployment, "GET", "/v1/queues/work/messages", query="max=1"
        )
        handle = first["messages"][0]["receipt_handle"]
        status, _, _ = await call(
            session,
            deployment,
            "PATCH",
            f"/v1/queues/work/messages/{handle}",
            {"visibility_timeout_s": 0},
        )
        assert status == 204
        _, again, _ = await call(
            session, deployment, "GET", "/v1/queues/work/messages", query="max=1"
        )
        assert again["messages"][0]["receive_count"] == 2  # visible again at once
        entry = {
            "id": "d",
            "receipt_handle": again["messages"][0]["receipt_handle"],
            "result_base64": "ZG9uZQ==",
        }
        status, deleted, _ = await call(
            session, deployment, "POST", "/v1/queues/work/messages:delete", {"entries": [entry]}
        )
        assert (status, deleted["succeeded"]) == (200, ["d"])
        status, view, _ = await call(
            session, deployment, "GET", f"/v1/queues/work/status/{sent['message_id']}"
        )
        assert (status, view["state"], view["result_base64"]) == (200, "deleted", "ZG9uZQ==")
        status, stale, _ = await call(
            session,
            deployment,
            "PATCH",
            f"/v1/queues/work/messages/{handle}",
            {"visibility_timeout_s": 5},
        )
        assert (status, stale["field"]) == (400, "receipt_handle")


async def test_a_message_can_be_sent_for_delivery_at_a_time(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        await call(session, deployment, "POST", "/v1/queues", {"name": "later"})
        # Given a message to deliver an hour from now (beyond SQS's 15-minute delay)
        deliver_at_ms = int(time.time() * 1000) + 3_600_000
        status, _, _ = await call(
            session,
            deployment,
            "POST",
            "/v1/queues/later/messages",
            {"body": "in an hour", "deliver_at_ms": deliver_at_ms},
        )
        assert status == 201
        # Then it waits, delayed, and a receive gets nothing
        _, view, _ = await call(session, deployment, "GET", "/v1/queues/later")
        assert (view["counts"]["delayed"], view["counts"]["visible"]) == (1, 0)
        _, received, _ = await call(
            session, deployment, "GET", "/v1/queues/later/messages", query="max=1"
        )
        assert received["messages"] == []
        # And a time due now is delivered at once
        status, _, _ = await call(
            session,
            deployment,
            "POST",
            "/v1/queues/later/messages",
            {"body": "now", "deliver_at_ms": int(time.time() * 1000)},
        )
        _, received, _ = await call(
            session, deployment, "GET", "/v1/queues/later/messages", query="max=10"
        )
        assert [m["body"] for m in received["messages"]] == ["now"]
        # Bad schedules are refused naming the field, and store nothing
        for body in (
            {"body": "x", "deliver_at_ms": deliver_at_ms, "delay_s": 5},
            {"body": "x", "deliver_at_ms": deliver_at_ms + 15 * 86_400_000},  # past retention
            {"body": "x", "deliver_at_ms": -1},
        ):
            status, refused, _ = await call(
                session, deployment, "POST", "/v1/queues/later/messages", body
            )
            assert (status, refused["field"]) == (400, "deliver_at_ms"), refused
        _, view, _ = await call(session, deployment, "GET", "/v1/queues/later")
        assert view["counts"]["delayed"] == 1

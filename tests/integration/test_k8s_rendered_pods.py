"""The rendered Kubernetes pods run: the metadata group and backend cluster c1 of the default
overlay, started with their rendered command lines, environments and Secret files
(tests/integration/k8s_pods.py says what stands in for Kubernetes), elect leaders and answer
their rendered probes over TLS verified against the deployment's CA, under their stable names.
Then, as docs/kubernetes.md has the operator do it, the frontends' credential is issued inside
a metadata pod, a frontend runs with the rendered args, a message goes through it, and KEDA's
request (GetQueueAttributes with keda.yaml's queueURL as written) is answered.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from raftq.client.sdk import AsyncClient
from tests.integration import k8s_invariants as inv
from tests.integration.cluster import free_ports
from tests.integration.k8s_pods import Pods, make_pods
from tests.integration.k8s_render import K8S, kubectl, rendered

pytestmark = pytest.mark.integration

GROUPS = ("metadata", "c1")
READY_TIMEOUT_S = 90.0


@pytest.fixture
def pods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pods]:
    objects = [
        o
        for o in rendered("three-zones")
        if o["kind"] != "StatefulSet" or o["metadata"]["name"] in GROUPS
    ]
    env = {
        **os.environ,
        "RAFTQ_SECRETS_DIR": str(tmp_path / "secrets"),
        "KUBECTL": kubectl(),
        "KUBECONFIG": os.devnull,
    }
    made = subprocess.run(
        [str(K8S / "raftq-k8s"), "secret-manifests"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    ports = dict(zip((7000, 8000, 8080, 9090), free_ports(4), strict=True))
    started = make_pods(
        tmp_path / "pods",
        objects,
        [o for o in yaml.safe_load_all(made.stdout) if o],
        {str(k): v for k, v in ports.items()},
    )
    # This process resolves the pods' names as they do (for the probes).
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: real(started.hosts.get(host, host), *a, **k)
    )
    try:
        yield started
    finally:
        started.close()


def _statefulset(objects: list[inv.Obj], group: str) -> inv.Obj:
    return next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == group)


def _probe(pods: Pods, sts: inv.Obj, pod: str, probe: inv.Obj) -> int:
    """The rendered probe's request, to the pod's stable name, TLS verified against the CA."""
    get = probe["httpGet"]
    port = pods.localizer.ports[str(inv.API_PORT)]
    url = f"{get.get('scheme', 'HTTP').lower()}://{pod}.{sts['spec']['serviceName']}:{port}{get['path']}"
    context = ssl.create_default_context(
        cafile=str(pods.localizer.pod_dir(pod) / "secrets" / "tls_ca.crt")
    )
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


async def _eventually(condition: Callable[[], bool], what: str, pods: Pods) -> None:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while not await asyncio.to_thread(condition):
        exited = {pod: p.returncode for pod, p in pods.processes.items() if p.poll() is not None}
        assert not exited, f"pods exited {exited} waiting for {what}; logs in {pods.root}"
        assert asyncio.get_running_loop().time() < deadline, (
            f"no {what} within {READY_TIMEOUT_S} s; logs in {pods.root}"
        )
        await asyncio.sleep(0.5)


def _admin_json(pods: Pods, *args: str) -> Any:
    metadata = _statefulset(pods.objects, "metadata")
    container = inv.raft_container(metadata)
    prefix = ["admin", "--json", "--operator-secret-file", "/run/secrets/operator_secret"]
    done = pods.run(
        container, "metadata-0", *prefix, "--tls-ca-file", "/run/secrets/tls_ca.crt", *args
    )
    assert done.returncode == 0, f"raftq admin {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout)


async def test_rendered_groups_start_answer_their_probes_and_serve_through_a_frontend(
    pods: Pods,
) -> None:
    objects = pods.objects
    # Given every pod of the metadata group and of c1, started at once (Parallel)
    for group in GROUPS:
        sts = _statefulset(objects, group)
        for i in range(sts["spec"]["replicas"]):
            pods.start(sts, f"{group}-{i}")
    # Then each answers its rendered startup, liveness and readiness probes (ready: caught up
    # with a leader known)
    for group in GROUPS:
        sts = _statefulset(objects, group)
        container = inv.raft_container(sts)
        for i in range(sts["spec"]["replicas"]):
            pod = f"{group}-{i}"
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                answers = functools.partial(_probe, pods, sts, pod, container[kind])
                await _eventually(lambda: answers() == 200, f"{pod} {kind}", pods)  # noqa: B023
    # And c1 registered itself with the metadata group, every member reporting
    await _eventually(
        lambda: any(
            c["cluster_id"] == "c1" and c["reporting"] == 3
            for c in _admin_json(pods, "clusters", "list")
        ),
        "c1 registered",
        pods,
    )
    # When the operator issues the frontends' credential inside metadata-0 and a frontend starts
    issued = _admin_json(pods, "frontends", "create", "kubernetes-frontends")
    pods.secrets[("raftq-frontend-credential", "credential")] = str(issued["credential"]).encode()
    frontend = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "frontend"
    )
    pods.start(frontend, "frontend-0")
    endpoint = f"http://127.0.0.1:{pods.localizer.ports['8080']}"
    await _eventually(lambda: _status(f"{endpoint}/readyz") == 200, "the frontend ready", pods)
    # Then an application's key sends and receives through it
    _admin_json(pods, "principals", "create", "app")
    _admin_json(pods, "grants", "add", "app", "*", "send", "receive", "delete", "admin")
    key = _admin_json(pods, "keys", "create", "app")
    async with AsyncClient(endpoint, key["key_id"], key["secret"]) as client:
        await client.create_queue("tasks")
        await client.send("tasks", "hello from a pod")
        received = await client.receive("tasks", max_messages=1, wait_s=5)
        assert [m.body for m in received] == ["hello from a pod"]
    # And KEDA's request, with keda.yaml's queueURL as written, is answered with the queue's counts
    scaled = next(o for o in objects if o["kind"] == "ScaledObject")
    queue_url = scaled["spec"]["triggers"][0]["metadata"]["queueURL"]
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["key_id"],
        aws_secret_access_key=key["secret"],
    )
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = await asyncio.to_thread(
        sqs.get_queue_attributes, QueueUrl=queue_url, AttributeNames=names
    )
    assert attributes["Attributes"] == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "1",
    }


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0

"""Each invariant of deploy/k8s/ (tests/integration/k8s_invariants.py) catches what it is for:
a copy of the default overlay's rendering is broken in one way, and its check must say so.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration import k8s_invariants as inv
from tests.integration.k8s_render import rendered


def _kind(objects: list[inv.Obj], kind: str, object_name: str) -> inv.Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == object_name)


def _c1(objects: list[inv.Obj]) -> inv.Obj:
    return _kind(objects, "StatefulSet", "c1")


def _break_member(objects: list[inv.Obj]) -> None:
    args = inv.raft_container(_c1(objects))["args"]
    args[args.index("--member=c1-2,c,c1-2.c1:7000,c1-2.c1:8000")] = (
        "--member=c2-2,c,c2-2.c2:7000,c2-2.c2:8000"
    )


def _open_raft_to_frontends(objects: list[inv.Obj]) -> None:
    raft = _kind(objects, "NetworkPolicy", "c1-raft")
    raft["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "frontend"}}}
    )


def _pem_in_config_map(objects: list[inv.Obj]) -> None:
    next(o for o in objects if o["kind"] == "ConfigMap")["data"]["ca.crt"] = (
        "-----BEGIN CERTIFICATE-----\nMIIB\n"
    )


# One breakage per invariant: (what is broken, how, the check that must say so).
BREAKAGES: list[
    tuple[str, Callable[[list[inv.Obj]], None], Callable[[list[inv.Obj]], list[str]]]
] = [
    (
        "ordered pod management",
        lambda o: _c1(o)["spec"].update(podManagementPolicy="OrderedReady"),
        inv.statefulset_problems,
    ),
    (
        "no volume per pod",
        lambda o: _c1(o)["spec"].pop("volumeClaimTemplates"),
        inv.statefulset_problems,
    ),
    (
        "no disruption budget",
        lambda o: o.remove(_kind(o, "PodDisruptionBudget", "c1")),
        inv.statefulset_problems,
    ),
    (
        "a budget of two",
        lambda o: _kind(o, "PodDisruptionBudget", "c1")["spec"].update(maxUnavailable=2),
        inv.statefulset_problems,
    ),
    (
        "no zone spread",
        lambda o: _c1(o)["spec"]["template"]["spec"].pop("topologySpreadConstraints"),
        inv.statefulset_problems,
    ),
    (
        "a soft zone spread",
        lambda o: _c1(o)["spec"]["template"]["spec"]["topologySpreadConstraints"][0].update(
            whenUnsatisfiable="ScheduleAnyway"
        ),
        inv.statefulset_problems,
    ),
    (
        "unready pods unpublished",
        lambda o: _kind(o, "Service", "c1")["spec"].pop("publishNotReadyAddresses"),
        inv.statefulset_problems,
    ),
    (
        "a Service with a cluster IP",
        lambda o: _kind(o, "Service", "c1")["spec"].pop("clusterIP"),
        inv.statefulset_problems,
    ),
    (
        "liveness on /readyz",
        lambda o: inv.raft_container(_c1(o))["livenessProbe"]["httpGet"].update(path="/readyz"),
        inv.statefulset_problems,
    ),
    (
        "readiness over plain HTTP",
        lambda o: inv.raft_container(_c1(o))["readinessProbe"]["httpGet"].pop("scheme"),
        inv.statefulset_problems,
    ),
    (
        "no step-down before stopping",
        lambda o: inv.raft_container(_c1(o))["lifecycle"].pop("preStop"),
        inv.statefulset_problems,
    ),
    ("a member of another group", _break_member, inv.statefulset_problems),
    (
        "a fixed node id",
        lambda o: inv.raft_container(_c1(o))["args"].__setitem__(1, "--node-id=c1-0"),
        inv.statefulset_problems,
    ),
    ("four replicas", lambda o: _c1(o)["spec"].update(replicas=4), inv.statefulset_problems),
    (
        "root",
        lambda o: inv.raft_container(_c1(o))["securityContext"].update(runAsNonRoot=False),
        inv.security_problems,
    ),
    (
        "a writable root",
        lambda o: _kind(o, "Deployment", "frontend")["spec"]["template"]["spec"]["containers"][0][
            "securityContext"
        ].pop("readOnlyRootFilesystem"),
        inv.security_problems,
    ),
    (
        "escalation",
        lambda o: _c1(o)["spec"]["template"]["spec"]["initContainers"][0]["securityContext"].update(
            allowPrivilegeEscalation=True
        ),
        inv.security_problems,
    ),
    (
        "a capability",
        lambda o: inv.raft_container(_c1(o))["securityContext"]["capabilities"].update(
            add=["NET_ADMIN"]
        ),
        inv.security_problems,
    ),
    (
        "no requests",
        lambda o: _kind(o, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0][
            "resources"
        ].pop("requests"),
        inv.security_problems,
    ),
    ("a PEM in a ConfigMap", _pem_in_config_map, inv.secret_value_problems),
    (
        "a password in a ConfigMap",
        lambda o: next(c for c in o if c["kind"] == "ConfigMap")["data"].update(
            db_password="hunter2"
        ),
        inv.secret_value_problems,
    ),
    (
        "a Secret with its value",
        lambda o: o.append({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}),
        inv.secret_value_problems,
    ),
    (
        "KEDA asks another endpoint",
        lambda o: _kind(o, "ScaledObject", "worker")["spec"]["triggers"][0]["metadata"].update(
            awsEndpoint="http://frontend:8080"
        ),
        inv.keda_problems,
    ),
    (
        "KEDA counts another queue",
        lambda o: _kind(o, "ScaledObject", "worker")["spec"]["triggers"][0]["metadata"].update(
            queueURL="http://frontend.raftq.svc.cluster.local:8080/000000000000/other"
        ),
        inv.keda_problems,
    ),
    (
        "KEDA without a key",
        lambda o: o.remove(_kind(o, "TriggerAuthentication", "raftq-worker")),
        inv.keda_problems,
    ),
    ("Raft open to frontends", _open_raft_to_frontends, inv.network_policy_problems),
    (
        "Raft open to everything",
        lambda o: _kind(o, "NetworkPolicy", "metadata-raft")["spec"]["ingress"][0].pop("from"),
        inv.network_policy_problems,
    ),
    (
        "no API policy",
        lambda o: o.remove(_kind(o, "NetworkPolicy", "c2-api")),
        inv.network_policy_problems,
    ),
    (
        "API open to workers",
        lambda o: _kind(o, "NetworkPolicy", "c1-api")["spec"]["ingress"][0]["from"].append(
            {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "worker"}}}
        ),
        inv.network_policy_problems,
    ),
    (
        "API open to a namespace",
        lambda o: _kind(o, "NetworkPolicy", "metadata-api")["spec"]["ingress"][0]["from"].append(
            {"namespaceSelector": {}}
        ),
        inv.network_policy_problems,
    ),
]


@pytest.mark.parametrize(("what", "breakage", "check"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_invariant_catches_its_breakage(
    what: str,
    breakage: Callable[[list[inv.Obj]], None],
    check: Callable[[list[inv.Obj]], list[str]],
) -> None:
    objects = rendered("three-zones")
    assert check(objects) == []
    breakage(objects)
    assert check(objects) != [], f"{check.__name__} missed: {what}"

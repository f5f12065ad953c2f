"""What every rendering of deploy/k8s/ must keep (tests/integration/test_k8s_manifests.py).

Each check takes the rendered objects (dicts, as `kubectl kustomize` prints them) and returns
the problems it found, one sentence each naming the object; an empty list is a pass. Being pure,
each can be shown to fail: the test breaks a copy of a rendering and expects a problem.

The rules are the deployment's promises on Kubernetes: a Raft group is a StatefulSet whose
members find each other by stable DNS names (its `--member` list names exactly its own pods),
start together, keep a majority through voluntary disruptions (a budget of one), spread over
zones, hand leadership over before stopping, and talk Raft only among themselves; no container
runs as root or may gain privileges; no secret value sits in a ConfigMap or in the manifests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]

RAFT_PORT = 7000
API_PORT = 8000
ZONE_KEY = "topology.kubernetes.io/zone"
SQS_ACCOUNT = "000000000000"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
_SECRET_NAME = re.compile(r"secret|passw|token|credential|private|(^|[_.-])key$", re.IGNORECASE)
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def name(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A label selector with matchLabels only (the manifests use no expressions)."""
    if selector is None or selector.get("matchExpressions"):
        return False
    wanted: dict[str, str] = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def containers(workload: Obj) -> Iterator[Obj]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def flags(container: Obj, flag: str) -> list[str]:
    """The values of `--flag=value` and `--flag value` in a container's args."""
    args: list[str] = container.get("args", [])
    found = []
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            found.append(arg.split("=", 1)[1])
        elif arg == flag and i + 1 < len(args):
            found.append(args[i + 1])
    return found


def raft_container(statefulset: Obj) -> Obj:
    """The node's container: the first (the others, if any, are sidecars)."""
    container: Obj = statefulset["spec"]["template"]["spec"]["containers"][0]
    return container


def statefulset_problems(objects: list[Obj]) -> list[str]:
    problems: list[str] = []
    for sts in of_kind(objects, "StatefulSet"):
        problems += _one_statefulset(objects, sts)
    return problems


def _one_statefulset(objects: list[Obj], sts: Obj) -> list[str]:
    problems = []
    spec, labels = sts["spec"], pod_labels(sts)
    pod_spec = spec["template"]["spec"]
    if spec.get("podManagementPolicy") != "Parallel":
        problems.append(f"{name(sts)}: podManagementPolicy is not Parallel")
    if not spec.get("volumeClaimTemplates"):
        problems.append(f"{name(sts)}: no volumeClaimTemplates (a volume per member)")
    budgets = [
        p
        for p in of_kind(objects, "PodDisruptionBudget")
        if selects(p["spec"].get("selector"), labels)
    ]
    if [p["spec"].get("maxUnavailable") for p in budgets] != [1]:
        problems.append(f"{name(sts)}: not exactly one PodDisruptionBudget with maxUnavailable 1")
    zone_spread = [
        c
        for c in pod_spec.get("topologySpreadConstraints", [])
        if c.get("topologyKey") == ZONE_KEY
        and c.get("maxSkew") == 1
        and c.get("whenUnsatisfiable") == "DoNotSchedule"
        and selects(c.get("labelSelector"), labels)
    ]
    if not zone_spread:
        problems.append(f"{name(sts)}: no zone topologySpreadConstraint (maxSkew 1, DoNotSchedule)")
    services = [
        s for s in of_kind(objects, "Service") if s["metadata"]["name"] == spec.get("serviceName")
    ]
    service = services[0] if services else None
    if (
        service is None
        or service["spec"].get("clusterIP") != "None"
        or service["spec"].get("publishNotReadyAddresses") is not True
        or service["spec"].get("selector") is None
        or not selects({"matchLabels": service["spec"]["selector"]}, labels)
    ):
        problems.append(
            f"{name(sts)}: no headless Service with publishNotReadyAddresses selecting it"
        )
    if (pod_spec.get("terminationGracePeriodSeconds") or 30) < 30:
        problems.append(f"{name(sts)}: terminationGracePeriodSeconds under 30 s")
    container = raft_container(sts)
    problems += _probe_problems(sts, container)
    problems += _step_down_problems(sts, container)
    problems += member_problems(sts)
    return problems


def _probe_problems(sts: Obj, container: Obj) -> list[str]:
    scheme = "HTTPS" if flags(container, "--tls-cert-file") else "HTTP"
    problems = []
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("scheme", "HTTP") != scheme:
            problems.append(f"{name(sts)}: {probe} is not {scheme} GET {path}")
    return problems


def _step_down_problems(sts: Obj, container: Obj) -> list[str]:
    command = " ".join(
        container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    )
    node = f'--node "$POD_NAME.{sts["spec"]["serviceName"]}:{API_PORT}"'
    pattern = re.compile(
        r"raftq admin --operator-secret-file \S+ .*raft step-down " + re.escape(node)
    )
    if not pattern.search(command):
        return [f"{name(sts)}: no preStop `raftq admin … raft step-down {node}`"]
    return []


def member_problems(sts: Obj) -> list[str]:
    """`--member` names exactly this StatefulSet's pods by their stable DNS names, each in its
    own zone, and `--node-id` is the pod's own name."""
    container, spec = raft_container(sts), sts["spec"]
    pods = [f"{sts['metadata']['name']}-{i}" for i in range(spec["replicas"])]
    service = spec["serviceName"]
    expected = {
        pod: (f"{pod}.{service}:{RAFT_PORT}", f"{pod}.{service}:{API_PORT}") for pod in pods
    }
    members = [m.split(",") for m in flags(container, "--member")]
    problems = []
    if sorted(m[0] for m in members) != sorted(pods) or any(
        len(m) != 4 or expected.get(m[0]) != (m[2], m[3]) for m in members
    ):
        problems.append(f"{name(sts)}: --member does not name exactly its pods {pods} at {service}")
    if len({m[1] for m in members if len(m) == 4}) != len(members):
        problems.append(f"{name(sts)}: two members share a zone")
    if spec["replicas"] < 3 or spec["replicas"] % 2 == 0:
        problems.append(f"{name(sts)}: {spec['replicas']} replicas (an odd number, 3 or more)")
    pod_name_env = [e for e in container.get("env", []) if e["name"] == "POD_NAME"]
    from_field = pod_name_env[0].get("valueFrom", {}).get("fieldRef", {}) if pod_name_env else {}
    if (
        flags(container, "--node-id") != ["$(POD_NAME)"]
        or from_field.get("fieldPath") != "metadata.name"
    ):
        problems.append(
            f"{name(sts)}: --node-id is not the pod's name (POD_NAME from metadata.name)"
        )
    return problems


def security_problems(objects: list[Obj]) -> list[str]:
    """Every container: not root, read-only root file system, no privilege escalation, no
    capability, and resource requests and limits."""
    problems = []
    for workload in (o for o in objects if o.get("kind") in WORKLOAD_KINDS):
        pod_context = workload["spec"]["template"]["spec"].get("securityContext", {})
        for container in containers(workload):
            where = f"{name(workload)} container {container['name']}"
            context = {**pod_context, **container.get("securityContext", {})}
            if context.get("runAsNonRoot") is not True or not context.get("runAsUser"):
                problems.append(f"{where}: may run as root")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root file system is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get(
                "capabilities", {}
            ).get("add"):
                problems.append(f"{where}: capabilities not all dropped")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    problems.append(f"{where}: no cpu and memory {part}")
    return problems


def secret_value_problems(objects: list[Obj]) -> list[str]:
    """No secret in a ConfigMap (by its key's name, or a PEM block), no Secret with values."""
    problems = []
    for config_map in of_kind(objects, "ConfigMap"):
        for key, value in {
            **config_map.get("data", {}),
            **config_map.get("binaryData", {}),
        }.items():
            if _SECRET_NAME.search(key) and str(value).strip():
                problems.append(f"{name(config_map)}: key {key!r} looks like a secret")
            if "-----BEGIN" in str(value):
                problems.append(f"{name(config_map)}: key {key!r} holds a PEM block")
    for secret in of_kind(objects, "Secret"):
        if secret.get("data") or secret.get("stringData"):
            problems.append(f"{name(secret)}: a secret value in the manifests")
    return problems


def keda_problems(objects: list[Obj]) -> list[str]:
    """The workers' ScaledObject asks raftq's SQS API, through the frontend Service, for the
    depth of the queue the workers take tasks from, signing with a TriggerAuthentication."""
    problems: list[str] = []
    frontends = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == "frontend"]
    if not frontends:
        return ["no frontend Service"]
    frontend = frontends[0]
    port = next(p["port"] for p in frontend["spec"]["ports"] if p["name"] == "http")
    endpoint = f"http://frontend.{frontend['metadata'].get('namespace')}.svc.cluster.local:{port}"
    auths = {a["metadata"]["name"]: a for a in of_kind(objects, "TriggerAuthentication")}
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    scaled = of_kind(objects, "ScaledObject")
    if not scaled:
        problems.append("no ScaledObject scales the workers")
    for scaled_object in scaled:
        target = deployments.get(scaled_object["spec"]["scaleTargetRef"]["name"])
        queues = (
            flags(target["spec"]["template"]["spec"]["containers"][0], "--queue") if target else []
        )
        if target is None or len(queues) != 1:
            problems.append(
                f"{name(scaled_object)}: does not scale a worker Deployment with one --queue"
            )
        for trigger in scaled_object["spec"]["triggers"]:
            meta = trigger.get("metadata", {})
            if trigger.get("type") != "aws-sqs-queue":
                continue
            if meta.get("awsEndpoint") != endpoint:
                problems.append(
                    f"{name(scaled_object)}: awsEndpoint is not the frontend Service {endpoint}"
                )
            queue = str(meta.get("queueURL", "")).removeprefix(f"{endpoint}/{SQS_ACCOUNT}/")
            if not _QUEUE_NAME.match(queue) or queue == meta.get("queueURL") or queues != [queue]:
                problems.append(
                    f"{name(scaled_object)}: queueURL is not "
                    f"{endpoint}/{SQS_ACCOUNT}/<the workers' queue>"
                )
            auth = auths.get(trigger.get("authenticationRef", {}).get("name", ""))
            parameters = (
                {r["parameter"] for r in auth["spec"].get("secretTargetRef", [])} if auth else set()
            )
            if not {"awsAccessKeyID", "awsSecretAccessKey"} <= parameters:
                problems.append(
                    f"{name(scaled_object)}: no TriggerAuthentication with an access key"
                )
    return problems


def _peers_reaching(objects: list[Obj], target: Obj, port: int) -> list[Obj] | None:
    """The `from` peers of every ingress rule that opens `port` of `target`'s pods; None when no
    policy selects them (everything may reach them)."""
    policies = [
        p
        for p in of_kind(objects, "NetworkPolicy")
        if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod_labels(target))
    ]
    if not policies:
        return None
    peers: list[Obj] = []
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers += rule.get("from") or [{"anything": True}]
    return peers


def _workloads_of(objects: list[Obj], peer: Obj) -> set[str] | None:
    """The workloads a pod-selector peer admits; None for any other kind of peer (namespaces,
    address blocks, anything), which admits more than pods of this rendering."""
    if set(peer) != {"podSelector"}:
        return None
    return {
        name(w)
        for w in objects
        if w.get("kind") in WORKLOAD_KINDS and selects(peer["podSelector"], pod_labels(w))
    }


def network_policy_problems(objects: list[Obj]) -> list[str]:
    """Raft ports: the group's own members, and only they. API ports: the frontends, the
    metadata group and the members; no worker (a client of the public API) and nothing outside
    the rendering's pods but those labelled as API clients."""
    problems = []
    workers = {
        name(d)
        for d in of_kind(objects, "Deployment")
        if pod_labels(d).get("app.kubernetes.io/component") == "worker"
    }
    for sts in of_kind(objects, "StatefulSet"):
        raft_peers = _peers_reaching(objects, sts, RAFT_PORT)
        admitted = (
            [_workloads_of(objects, p) for p in raft_peers] if raft_peers is not None else [None]
        )
        if any(a != {name(sts)} for a in admitted):
            problems.append(
                f"{name(sts)}: Raft port {RAFT_PORT} reachable by more than its own members"
            )
        if raft_peers == []:
            problems.append(f"{name(sts)}: Raft port {RAFT_PORT} closed to its own members")
        api_peers = _peers_reaching(objects, sts, API_PORT)
        if api_peers is None:
            problems.append(f"{name(sts)}: no NetworkPolicy guards API port {API_PORT}")
            continue
        reaching = set().union(*(_workloads_of(objects, p) or set() for p in api_peers))
        if not {"Deployment/frontend", "StatefulSet/metadata", name(sts)} <= reaching:
            problems.append(
                f"{name(sts)}: API port {API_PORT} closed to the frontends, metadata or members"
            )
        for peer in api_peers:
            admitted_api = _workloads_of(objects, peer)
            api_client = peer.get("podSelector", {}).get("matchLabels") == {
                "raftq.io/api-client": "true"
            }
            if (
                admitted_api is None
                or (admitted_api & workers)
                or (not admitted_api and not api_client)
            ):
                problems.append(f"{name(sts)}: API port {API_PORT} open to {peer}")
    return problems

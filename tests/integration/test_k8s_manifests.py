"""deploy/k8s/: every overlay renders with kubectl's built-in kustomize, every object is valid
for Kubernetes (offline, with kubernetes-validate's schemas; KEDA's objects against the fields
KEDA documents), the deployment's invariants hold (tests/integration/k8s_invariants.py; that
each catches what it is for: test_k8s_invariant_breakages.py), raftq accepts every command line,
and the secret script makes every Secret the pods mount. No cluster is contacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from raftq.client import cli
from tests.integration import k8s_invariants as inv
from tests.integration.k8s_render import K8S, OVERLAYS, kubectl, rendered
from tests.integration.keda_schemas import KEDA_SCHEMAS

# The oldest Kubernetes the manifests are for (minDomains of topology spread is GA in 1.30),
# and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str) -> None:
    for obj in rendered(overlay):
        if obj["kind"] in KEDA_SCHEMAS:
            jsonschema.validate(obj, KEDA_SCHEMAS[obj["kind"]])
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_validation_refuses_a_misspelled_field() -> None:
    statefulset = next(o for o in rendered(OVERLAYS[0]) if o["kind"] == "StatefulSet")
    statefulset["spec"]["podManagmentPolicy"] = "Parallel"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[0], strict=True)


def test_keda_schema_refuses_a_misspelled_field() -> None:
    scaled = next(o for o in rendered(OVERLAYS[0]) if o["kind"] == "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["queueUrl"] = "http://frontend/000000000000/tasks"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, KEDA_SCHEMAS["ScaledObject"])


CHECKS: list[Callable[[list[inv.Obj]], list[str]]] = [
    inv.statefulset_problems,
    inv.security_problems,
    inv.secret_value_problems,
    inv.keda_problems,
    inv.network_policy_problems,
]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_rendering_keeps_the_invariant(
    overlay: str, check: Callable[[list[inv.Obj]], list[str]]
) -> None:
    assert check(rendered(overlay)) == []


def test_every_overlay_has_the_metadata_group_and_a_backend_cluster() -> None:
    for overlay in OVERLAYS:
        groups = {o["metadata"]["name"] for o in rendered(overlay) if o["kind"] == "StatefulSet"}
        assert "metadata" in groups and groups - {"metadata"}, overlay
    assert "three-zones" in OVERLAYS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_raftq_command_line_is_one_raftq_accepts(overlay: str) -> None:
    """Each container's args parse with raftq's own CLI (flag names, `--member` format); a
    StatefulSet's `$(POD_NAME)` becomes its first pod's name, as Kubernetes expands it."""
    for workload in (o for o in rendered(overlay) if o["kind"] in inv.WORKLOAD_KINDS):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            args = [
                a.replace("$(POD_NAME)", f"{workload['metadata']['name']}-0")
                for a in container["args"]
            ]
            parsed = cli._parser(args[0]).parse_args(args)
            assert parsed.command == args[0]


def test_the_secret_script_makes_every_secret_the_manifests_mount(tmp_path: Path) -> None:
    """`raftq-k8s secret-manifests` (offline) makes each Secret the pods mount, with the keys
    they read, and each group's certificate names its members' API hosts; the two Secrets it
    cannot make before the cluster runs are made by its `frontend-credential` and `worker-key`."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl")
    env = {
        **os.environ,
        "RAFTQ_SECRETS_DIR": str(tmp_path / "secrets"),
        "KUBECTL": kubectl(),
        "KUBECONFIG": os.devnull,
    }
    done = subprocess.run(
        [str(K8S / "raftq-k8s"), "secret-manifests"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    made = {
        o["metadata"]["name"]: set(o.get("data", {}))
        for o in yaml.safe_load_all(done.stdout)
        if o and o["kind"] == "Secret"
    }
    made["raftq-frontend-credential"] = {"credential"}
    made["raftq-worker-access-key"] = {"access_key_id", "secret_access_key"}
    objects = rendered("three-zones")
    for workload in (o for o in objects if o["kind"] in inv.WORKLOAD_KINDS):
        for secret, key in _mounted_secrets(workload):
            assert key in made.get(secret, set()), (
                f"{inv.name(workload)} reads {secret}/{key}, which nothing makes"
            )
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        names = subprocess.run(
            [
                "openssl",
                "x509",
                "-noout",
                "-ext",
                "subjectAltName",
                "-in",
                str(tmp_path / "secrets" / f"{sts['metadata']['name']}.tls.crt"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        for member in inv.flags(inv.raft_container(sts), "--member"):
            assert f"DNS:{member.split(',')[3].rsplit(':', 1)[0]}," in names + ",", member


def _mounted_secrets(workload: inv.Obj) -> list[tuple[str, str]]:
    spec = workload["spec"]["template"]["spec"]
    found = []
    for volume in spec.get("volumes", []):
        for source in volume.get("projected", {}).get("sources", []):
            found += [
                (source["secret"]["name"], item["key"])
                for item in source.get("secret", {}).get("items", [])
            ]
        if "secret" in volume:
            found += [
                (volume["secret"]["secretName"], item["key"]) for item in volume["secret"]["items"]
            ]
    for container in inv.containers(workload):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.append((ref["name"], ref["key"]))
    return found

"""Run the pods of a rendering of deploy/k8s/ as real processes on loopback, the way Kubernetes
would run them (tests/integration/test_k8s_rendered_pods.py).

What Kubernetes provides is stood in for, and nothing else is changed:
- **Names.** Each pod's stable DNS name (`c1-0.c1`) resolves to a loopback address of its own
  (127.77.G.N), through a `sitecustomize` module that answers `socket.getaddrinfo` for those
  names from RAFTQ_TEST_HOSTS (the part /etc/hosts or the cluster's DNS plays). The nodes bind
  and dial those names, exactly as in the manifests.
- **Volumes.** Each pod's Secret files are laid out as its projected volume lays them out, from
  the Secret manifests `raftq-k8s secret-manifests` makes; its data volume is a directory.
- **Ports and paths.** The container's absolute paths move into the test's directory, and the
  fixed ports (7000, 8000, 8080, 9090) become free ones, the same for every pod (each pod has
  its own address, as in a cluster).
- `$(POD_NAME)` is expanded and POD_NAME set, as the downward API does.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration import k8s_invariants as inv

_SITECUSTOMIZE = '''"""A stand-in for the DNS of a cluster: RAFTQ_TEST_HOSTS maps names."""
import json
import os
import socket

_HOSTS = json.loads(os.environ.get("RAFTQ_TEST_HOSTS", "{}"))
_getaddrinfo = socket.getaddrinfo


def _resolved(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    return _getaddrinfo(_HOSTS.get(name, host), *args, **kwargs)


socket.getaddrinfo = _resolved
'''


@dataclass
class Localizer:
    """Where a container's absolute paths and fixed ports go in this test."""

    root: Path
    ports: dict[str, int]

    def pod_dir(self, pod: str) -> Path:
        return self.root / pod

    def text(self, value: str, pod: str) -> str:
        pod_dir = self.pod_dir(pod)
        value = value.replace("$(POD_NAME)", pod)
        value = value.replace("/run/secrets/", f"{pod_dir}/secrets/")
        value = value.replace("/run/raftq-credential/", f"{pod_dir}/credential/")
        value = value.replace("/var/lib/raftq/", f"{pod_dir}/volume/")
        value = value.replace("0.0.0.0:", "127.0.0.1:")
        for fixed, free in self.ports.items():
            value = value.replace(f":{fixed}", f":{free}")
        return value


@dataclass
class Pods:
    """The processes started, each killed by close()."""

    localizer: Localizer
    objects: list[inv.Obj]
    hosts: dict[str, str]
    secrets: dict[tuple[str, str], bytes]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.localizer.root

    def environment(self, container: inv.Obj, pod: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.root / "site"), env.get("PYTHONPATH", "")])
        env["RAFTQ_TEST_HOSTS"] = json.dumps(self.hosts)
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = self.localizer.text(entry["value"], pod)
            elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[entry["name"]] = pod
        return env

    def mount_secrets(self, workload: inv.Obj, pod: str) -> None:
        """Lay out the pod's Secret volumes as Kubernetes mounts them."""
        mounts = {
            m["name"]: m["mountPath"]
            for m in workload["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        }
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            sources = [
                s["secret"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s
            ]
            if "secret" in volume:
                sources.append({"name": volume["secret"]["secretName"], **volume["secret"]})
            for source in sources:
                for item in source.get("items", []):
                    value = self.secrets.get((source["name"], item["key"]))
                    if value is None:
                        continue  # made later (the frontends' credential)
                    path = Path(
                        self.localizer.text(f"{mounts[volume['name']]}/{item['path']}", pod)
                    )
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(value)

    def start(self, workload: inv.Obj, pod: str) -> None:
        container = workload["spec"]["template"]["spec"]["containers"][0]
        self.mount_secrets(workload, pod)
        (self.localizer.pod_dir(pod) / "volume").mkdir(parents=True, exist_ok=True)
        args = [self.localizer.text(a, pod) for a in container["args"]]
        log = (self.root / f"{pod}.log").open("ab")
        self.processes[pod] = subprocess.Popen(
            [sys.executable, "-m", "raftq.client.cli", *args, "--log-level", "WARNING"],
            env=self.environment(container, pod),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def run(self, container: inv.Obj, pod: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A command in a pod's container (as `kubectl exec` runs it)."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "raftq.client.cli",
                *(self.localizer.text(a, pod) for a in args),
            ],
            env=self.environment(container, pod),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes.values():
            process.wait()


def make_pods(
    root: Path, objects: list[inv.Obj], secret_manifests: list[inv.Obj], ports: dict[str, int]
) -> Pods:
    (root / "site").mkdir(parents=True)
    (root / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    hosts: dict[str, str] = {}
    for g, sts in enumerate(inv.of_kind(objects, "StatefulSet"), start=1):
        for i in range(sts["spec"]["replicas"]):
            hosts[f"{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}"] = (
                f"127.77.{g}.{i + 1}"
            )
    secrets = {
        (s["metadata"]["name"], key): base64.b64decode(value)
        for s in secret_manifests
        if s["kind"] == "Secret"
        for key, value in s.get("data", {}).items()
    }
    return Pods(Localizer(root, ports), objects, hosts, secrets)

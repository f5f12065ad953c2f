"""Renders deploy/k8s/'s overlays with kubectl's built-in kustomize, offline, for the
manifests' tests. kubectl comes from scripts/_kubectl.sh (Debian's kubectl 1.20, kustomize
v2.0.3, on a fresh machine; RAFTQ_KUBECTL names another); without one the tests skip, which CI
counts as a failure (tests/conftest.py).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.k8s_invariants import Obj

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(
    p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file()
)
RENDER_TIMEOUT_S = 60


def kubectl() -> str:
    found = os.environ.get("RAFTQ_KUBECTL") or shutil.which("kubectl")
    if found is None:
        pytest.skip("no kubectl (scripts/_kubectl.sh installs Debian's kubernetes-client)")
    return found


@functools.cache
def _render(overlay: str) -> tuple[Obj, ...]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_S,
        check=False,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed: {done.stderr}"
    return tuple(o for o in yaml.safe_load_all(done.stdout) if o)


def rendered(overlay: str) -> list[Obj]:
    """A fresh copy each time: tests may break it."""
    return copy.deepcopy(list(_render(overlay)))

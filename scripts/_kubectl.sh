# Sourced by scripts/test: kubectl, whose built-in kustomize renders deploy/k8s/ for
# tests/integration/test_k8s_manifests.py (offline: no cluster is contacted). Installed when
# missing with apt-get (CI starts from nothing and runs as root; elsewhere through sudo):
# Debian bookworm's `kubernetes-client` is kubectl 1.20 with kustomize v2.0.3, the oldest
# kustomize the manifests are kept to. Without it the test skips, which fails in CI.
as_root() { if (( EUID == 0 )); then "$@"; else sudo "$@"; fi; }
if ! command -v kubectl > /dev/null 2>&1; then
  if command -v apt-get > /dev/null 2>&1; then
    echo "== installing kubectl (Debian's kubernetes-client) for the Kubernetes manifests' test"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      kubernetes-client > /dev/null
  else
    echo "no kubectl and no apt-get: the Kubernetes manifests' test will skip (and fail in CI)" >&2
  fi
fi

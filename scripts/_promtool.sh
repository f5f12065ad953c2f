# Sourced by scripts/test: promtool, for tests/unit/deploy/test_prometheus.py (the compose
# deployment's Prometheus rules and configuration). It comes with Debian's `prometheus`
# package, the one the deployment's Prometheus image installs; installed here if missing, with
# apt-get (as root, or through sudo). The package's service is not started where there is no
# init system (CI containers); on a host with systemd, Debian's package starts it on :9090,
# which the tests do not use (the compose deployment publishes its own on 19090).
if ! command -v promtool > /dev/null 2>&1; then
  if command -v apt-get > /dev/null 2>&1; then
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    echo "== installing promtool (Debian's prometheus package)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus > /dev/null
  else
    echo "scripts/test: no promtool and no apt-get: the Prometheus rule tests will skip" >&2
  fi
fi

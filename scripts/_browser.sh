# Sourced by scripts/test: Debian's headless Chromium and its chromedriver for the dashboard's
# browser tests (tests/integration/test_dashboard_browser.py), installed with apt-get when
# missing (CI starts from nothing and runs as root; elsewhere through sudo).
# Exports RAFTQ_CHROMIUM and RAFTQ_CHROMEDRIVER.
as_root() { if (( EUID == 0 )); then "$@"; else sudo "$@"; fi; }
if ! command -v chromium > /dev/null 2>&1 || ! command -v chromedriver > /dev/null 2>&1; then
  if command -v apt-get > /dev/null 2>&1; then
    echo "== installing chromium and chromium-driver (dashboard browser tests)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver > /dev/null
  else
    echo "no apt-get: the dashboard's browser tests will skip (and fail in CI)" >&2
  fi
fi
RAFTQ_CHROMIUM="$(command -v chromium || true)"
RAFTQ_CHROMEDRIVER="$(command -v chromedriver || true)"
export RAFTQ_CHROMIUM RAFTQ_CHROMEDRIVER

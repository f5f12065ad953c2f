# Sourced by scripts/*: make (or reuse) the project's virtual environment and install into it.
# RAFTQ_VENV overrides its place; RAFTQ_PYTHON the interpreter (Python >= 3.11).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${RAFTQ_VENV:-$root/.venv}"
python="${RAFTQ_PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.installed-$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)-$1"
if [ ! -f "$stamp" ]; then
  # setuptools warns on every editable install about folders named like the package; that is
  # this checkout by design, so its warnings are not shown.
  if [ "$1" = dev ]; then
    PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install --quiet -e "$root[dev]"
  else
    PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install --quiet -e "$root[server]"
  fi
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"

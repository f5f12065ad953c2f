"""The state machine core does no I/O of its own: it imports no clock, network, thread or Raft
module (DESIGN.md §3, STYLE.md principle 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import raftq.backend

FORBIDDEN = {
    "aiohttp",
    "pysyncobj",
    "rocksdict",
    "asyncio",
    "socket",
    "time",
    "threading",
    "random",
    "secrets",
    "os",
    "datetime",
    "uuid",
}
# The pure cores: the state machines (and the backend's local reads), and every raftq module
# they import.
PURE_ROOTS = (
    "backend/state_machine.py",
    "backend/reads.py",
    "backend/empty_receive.py",
    "metadata/state_machine.py",
)


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _imported_raftq_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("raftq"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("raftq"))
    return found


def test_state_machine_modules_import_no_io_clock_or_randomness() -> None:
    # Given every module of the pure core and every raftq module it imports, transitively
    package_dir = Path(raftq.backend.__file__).parent
    root = package_dir.parent.parent
    pending = [package_dir.parent / name for name in PURE_ROOTS]
    seen: set[Path] = set()
    offenders: dict[str, set[str]] = {}
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        # When we look at what each imports
        bad = _imported_roots(path) & FORBIDDEN
        if bad:
            offenders[str(path.relative_to(root))] = bad
        for module in _imported_raftq_modules(path):
            candidate = root / (module.replace(".", "/") + ".py")
            if candidate.exists():
                pending.append(candidate)
    # Then none reaches a clock, the network, threads, randomness or Raft
    assert offenders == {}
    assert len(seen) > 10


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "impure.py"
    module.write_text("import time\nfrom asyncio import sleep\n")
    assert _imported_roots(module) & FORBIDDEN == {"time", "asyncio"}

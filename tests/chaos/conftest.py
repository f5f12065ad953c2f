"""The chaos suite is not part of the default test run (./scripts/test) yet.

Its tests are collected only when RAFTQ_CHAOS is set:

    RAFTQ_CHAOS=1 .venv/bin/pytest tests/chaos

Today they are unit tests of the harness (the checker on synthetic histories, the workload on an
in-memory queue), which need no Docker.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("RAFTQ_CHAOS") else ["test_*.py"]

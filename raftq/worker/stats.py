"""What a worker counts of its own work, and the id it goes by unless given one."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field


@dataclass(slots=True)
class WorkerStats:
    leased: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    handed_back: int = 0
    lost: int = 0
    outcomes: list[str] = field(default_factory=list)  # "task_id:outcome", in finish order


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

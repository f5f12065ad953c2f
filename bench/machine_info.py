"""What machine a benchmark ran on, printed with its figures."""

from __future__ import annotations

import os
import platform
from importlib import metadata


def describe() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("rocksdict", "pysyncobj", "aiohttp")
    )
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, {memory} RAM; {platform.platform()}; "
        f"Python {platform.python_version()}; {versions}"
    )

"""A filesystem of its own, small enough to fill, for one node's data directory: a sparse image
formatted ext4 and mounted on a loop device (root only; `available()` says whether this host
can). Space is filled and freed with a ballast file, as an operator would find and remove one."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

BALLAST = "ballast"


def available() -> str | None:
    """Why small disks cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "mounting a loop device needs root"
    missing = [tool for tool in ("mkfs.ext4", "mount", "umount") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control)"
    return None


@contextlib.contextmanager
def small_disk(mount_point: Path, size_mb: int) -> Iterator[Path]:
    """`mount_point` on an ext4 filesystem of `size_mb` (no blocks reserved for root, so a
    ballast fills it for every user), unmounted and deleted afterwards."""
    image = mount_point.with_name(mount_point.name + ".img")
    with image.open("wb") as file:
        file.truncate(size_mb * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        image.unlink(missing_ok=True)


def fill(mount_point: Path) -> int:
    """Fill the filesystem with a ballast file until a write fails for want of space; the bytes
    written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with (mount_point / BALLAST).open("wb", buffering=0) as ballast:
        while True:
            try:
                written += ballast.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 2]


def free_some(mount_point: Path, size_bytes: int) -> None:
    """Give back the last `size_bytes` of the ballast."""
    ballast = mount_point / BALLAST
    os.truncate(ballast, max(ballast.stat().st_size - size_bytes, 0))


def free(mount_point: Path) -> None:
    (mount_point / BALLAST).unlink(missing_ok=True)

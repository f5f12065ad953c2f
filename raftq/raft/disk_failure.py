"""A node whose own disk failed stops at once; a restart recovers from what it synced.

Rule: after a write or an fsync of the Raft log, the term and vote, or the state store failed
(the disk is full, an I/O error), the process exits with `EXIT_CODE`; it never retries the
write and never goes on. A retried fsync can succeed after the kernel dropped the pages the
failed one could not write (PostgreSQL's "fsyncgate"), and a retried append would follow a torn
record with a whole one, which the journal rightly takes for corruption at the next start. What
was acknowledged is safe either way: it was synced before it was acknowledged (journal.py), and
on restart the journal cuts its torn tail and the store replays from its applied index. The
supervisor restarts the node: Docker's restart policy, systemd, or `raftq up`'s supervisor. Until
space is freed the node fails again at its first write (or when its store opens), and its peers
serve without it.

pysyncobj's tick thread would log an exception from its tick and run the tick again, so the
check sits around the tick (`RaftNode._onTick`), where apply, appends, syncs, term changes and
snapshots all run.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from typing import Final, NoReturn

from raftq.common.errors import DiskFailure

log = logging.getLogger(__name__)

# EX_TEMPFAIL (sysexits.h): a temporary failure, worth a restart.
EXIT_CODE: Final = 75
# The errors of a disk that cannot take a write: full, over quota, failing, or read-only.
DISK_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


def is_disk_failure(error: BaseException) -> bool:
    if isinstance(error, DiskFailure):
        return True
    return isinstance(error, OSError) and error.errno in DISK_ERRNOS


def stop(error: BaseException) -> NoReturn:
    """Log `error` and exit the process at once (no cleanup that could write)."""
    log.critical(
        "stopping: the node's disk failed (%s); restart it once it has space",
        error,
        extra={"event": "disk_failed", "error": error},
    )
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)

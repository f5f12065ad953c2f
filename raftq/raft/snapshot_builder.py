"""Snapshots cut on the Raft thread and archived on a worker thread.

pysyncobj calls its serializer on its tick thread, the thread that also sends heartbeats: an
archive of a store of gigabytes (checksums, copy, fsync) written there stalled heartbeats past
the election timeout. Here only the consistent cut runs on that thread; the rest runs on a
worker, and pysyncobj learns the outcome through its `serializeChecker`, which it asks on every
tick.

Rules kept:
- The cut: `machine.write_snapshot` (a RocksDB checkpoint: a flush and hard links) runs on the
  tick thread, between two entries, at the applied index whose entries pysyncobj passed.
- The worker archives the checkpoint (raft/snapshot_archive.py: checksums, fsync of the file)
  into `snapshot.building`, never into the file pysyncobj serves.
- Only a complete, fsynced archive is renamed to the served file, on the tick thread, in
  `progress`, followed by a directory fsync; pysyncobj compacts its journal only after
  `progress` said SUCCESS. A crash before leaves the previous snapshot and the whole log.
- While a build runs pysyncobj serves no snapshot (its serializer is busy: pysyncobj sends no
  snapshot data until the checker answers SUCCESS or FAILED); a follower being sent the
  previous file keeps reading it (an open file survives the rename).
- A snapshot installed while a build runs (this member was behind) makes the build stale: it
  is discarded (FAILED), so an older state never replaces the installed one's file.
- A build left by a crash is removed at start (`SnapshotBuilder.__init__`).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from pysyncobj.config import SERIALIZER_STATE

from raftq.raft.durable_files import fsync_directory
from raftq.raft.machine import ReplicatedMachine
from raftq.raft.snapshot_archive import SnapshotMeta, write_archive
from raftq.raft.timings import snapshot_histogram

log = logging.getLogger(__name__)

BUILDING_NAME = "snapshot.building"
CUT_NAME = "snapshot-out"


class BuildingInBackground(Exception):
    """Raised by the serializer after it started a build. pysyncobj renames its temporary file
    over the served one right after the serializer returns; raising skips that rename (pysyncobj
    catches any exception there and then waits for its checker). Never reaches raftq code."""


class SnapshotBuilder:
    def __init__(self, data_dir: Path, served_file: Path, machine: ReplicatedMachine) -> None:
        self._data_dir = data_dir
        self._served_file = served_file
        self._machine = machine
        self._building = data_dir / BUILDING_NAME
        self._cut = data_dir / CUT_NAME
        self._worker: threading.Thread | None = None
        self._outcome: bool | None = None  # set by the worker: True when the archive is whole
        self._installs = 0  # snapshots installed, counted on the tick thread
        self._installs_at_start = 0
        self._meta: SnapshotMeta | None = None  # of the build running or last run
        self._started_s = 0.0
        self.build_seconds = snapshot_histogram()  # builds that succeeded (raft_metrics.py)
        self._building.unlink(missing_ok=True)
        shutil.rmtree(self._cut, ignore_errors=True)

    def start(self, meta: SnapshotMeta) -> None:
        """Cut the machine's state now (tick thread) and archive it on a worker."""
        if self._worker is not None:
            return  # pysyncobj does not ask while its serializer is busy
        self._outcome = None
        self._meta, self._started_s = meta, time.monotonic()
        self._installs_at_start = self._installs
        shutil.rmtree(self._cut, ignore_errors=True)
        cut = True
        try:
            self._machine.write_snapshot(self._cut)
        except Exception:
            # Reported as FAILED at the next tick: pysyncobj is then free to try again (it
            # waits for its checker to say SUCCESS or FAILED before it serializes or serves).
            log.exception("cutting a snapshot failed", extra={"event": "snapshot_failed"})
            cut = False
        self._worker = threading.Thread(
            target=self._archive, args=(meta if cut else None,), name="raftq-snapshot"
        )
        self._worker.daemon = True
        self._worker.start()

    def progress(self) -> int:
        """pysyncobj's `serializeChecker` (tick thread): its SERIALIZER_STATE of the build."""
        worker = self._worker
        if worker is None:
            return int(SERIALIZER_STATE.NOT_SERIALIZING)
        if worker.is_alive():
            return int(SERIALIZER_STATE.SERIALIZING)
        self._worker = None
        if not self._outcome or self._installs != self._installs_at_start:
            if self._outcome:  # a failed build said why already
                log.info(
                    "a snapshot built at %s was discarded: a newer one was installed meanwhile",
                    self._described_entry(),
                    extra={"event": "snapshot_discarded"},
                )
            self._building.unlink(missing_ok=True)
            return int(SERIALIZER_STATE.FAILED)
        os.replace(self._building, self._served_file)
        fsync_directory(self._data_dir)
        elapsed_s = time.monotonic() - self._started_s
        self.build_seconds.observe(elapsed_s)
        log.info(
            "took a snapshot at %s in %.3f s (%d bytes)",
            self._described_entry(),
            elapsed_s,
            self._served_file.stat().st_size,
            extra={"event": "snapshot_taken"},
        )
        return int(SERIALIZER_STATE.SUCCESS)

    def installed(self) -> None:
        """A snapshot from the leader replaced the state (tick thread)."""
        self._installs += 1
        log.info("installed a snapshot sent by the leader", extra={"event": "snapshot_installed"})

    def _described_entry(self) -> str:
        if self._meta is None:
            return "an unknown entry"
        _, index, term = self._meta.last_entry
        return f"entry {index} (term {term})"

    def close(self) -> None:
        worker = self._worker
        if worker is not None:
            worker.join()

    def _archive(self, meta: SnapshotMeta | None) -> None:
        if meta is None:  # the cut failed
            self._outcome = False
            return
        try:
            write_archive(self._building, meta, self._cut)
            self._outcome = True
        except Exception:
            log.exception("archiving a snapshot failed", extra={"event": "snapshot_failed"})
            self._outcome = False
        finally:
            shutil.rmtree(self._cut, ignore_errors=True)

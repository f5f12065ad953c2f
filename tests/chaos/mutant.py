"""Show that the chaos suite fails when a guarantee is removed: build an image with a known bug,
run a cell against a deployment of it, and report what the checker found.

    .venv/bin/python -m tests.chaos.mutant quorum-of-one      # partition-leader, 60 s

Mutants (each a small, exact edit of the installed code inside a copy of `raftq:dev`; the edit
must match exactly once or the build fails, so a mutant never silently tests the real code):

- `quorum-of-one`: pysyncobj's leader counts an entry committed as soon as it holds it itself,
  without a majority (the loop in `_onTick` that advances the commit index never stops). A send
  is then acknowledged before any follower has it: DESIGN.md §1's promises 1 and 2 are gone.
  The cell cuts the leader off from its peers while the frontends still reach it; until it
  steps down it acknowledges sends and deletes that the new leader's log replaces. Expected:
  lost > 0, or deliveries after a confirmed delete, and replicas that disagree. (Under
  `kill-leader` the mutant went unnoticed on 2026-12-03: a leader sends each entry to its
  followers as it appends it, so a kill almost never falls between the acknowledgement and
  the followers' copy.)

- `release-before-accept`: the dead-letter forwarder takes a batch out of its source queue's
  outbox before the dead-letter queue on the other cluster stored it (DESIGN.md §1's promise 2:
  a dead letter is delivered from its DLQ, never lost). The cell kills the leader of either
  cluster in turn; a batch whose accept fails while the DLQ's cluster elects is gone. Expected:
  lost > 0.

- `go-on-after-disk-failure`: a node whose write failed for want of space logs the error and
  runs its tick again, as pysyncobj does with any exception, instead of stopping
  (raft/disk_failure.py). Its next append follows the torn record with a whole one. Expected
  under `disk-full-leader`, whose nemesis restarts the node once space is freed: the node finds
  its log corrupt and never comes back, so the replicas do not agree.

The run takes the compose deployment down with its volumes, brings it up on the mutant image,
runs the cell (its drain is cut to 60 s: lost messages never arrive), takes it down again and
exits 0 only when the cell FAILED, i.e. when the suite caught the mutant. Bring the real
deployment back with `deploy/compose/raftq-compose up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.deployment import COMPOSE_DIR, Deployment
from tests.chaos.run import CELLS, RESULTS, run_cell

BASE_IMAGE = "raftq:dev"


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str  # the installed module to edit, imported inside the image to find its file
    before: str
    after: str
    cell: str


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant(
            "quorum-of-one",
            "pysyncobj.syncobj",
            before=(
                "                if count <= (len(self.__otherNodes) + 1) / 2:\n"
                "                    break\n"
                "                entries = self.__getEntries(commitIdx, 1)\n"
            ),
            after=(
                "                if count < 1:  # MUTANT quorum-of-one: no majority needed\n"
                "                    break\n"
                "                entries = self.__getEntries(commitIdx, 1)\n"
            ),
            cell="partition-leader",
        ),
        Mutant(
            "release-before-accept",
            "raftq.metadata.dead_letter_forwarder",
            before=("        accepted = await self._run(\n            dlq.placement.cluster_id,\n"),
            after=(
                "        await self._run(  # MUTANT release-before-accept\n"
                "            cluster_id,\n"
                "            ReleaseDeadLetters(\n"
                "                now_ms=0, queue=source.queue_id, message_ids=message_ids\n"
                "            ),\n"
                "            DeadLettersReleased,\n"
                "        )\n"
                "        accepted = await self._run(\n"
                "            dlq.placement.cluster_id,\n"
            ),
            cell="dead-letter-kill-leaders",
        ),
        Mutant(
            "go-on-after-disk-failure",
            "raftq.raft.node",
            before="            if disk_failure.is_disk_failure(error):\n",
            after="            if False:  # MUTANT go-on-after-disk-failure\n",
            cell="disk-full-leader",
        ),
    )
}

_EDIT = """\
import importlib, pathlib, sys
before, after = pathlib.Path("before").read_text(), pathlib.Path("after").read_text()
path = pathlib.Path(importlib.import_module(sys.argv[1]).__file__)
text = path.read_text()
if text.count(before) != 1:
    sys.exit(f"{path}: the mutant's text occurs {text.count(before)} times, not once")
path.write_text(text.replace(before, after))
print(f"mutated {path}")
"""

_DOCKERFILE = """\
FROM {base}
USER root
COPY edit.py before after /tmp/mutant/
RUN cd /tmp/mutant && /opt/raftq/bin/python3 edit.py {module} && rm -rf /tmp/mutant \\
    && find /opt/raftq -name __pycache__ -path '*pysyncobj*' -prune -exec rm -rf {{}} +
USER raftq:raftq
"""


def build(mutant: Mutant, base: str = BASE_IMAGE) -> str:
    """Build the mutant's image from `base`; its tag."""
    tag = f"raftq:mutant-{mutant.name}"
    with tempfile.TemporaryDirectory() as context:
        folder = Path(context)
        (folder / "edit.py").write_text(_EDIT)
        (folder / "before").write_text(mutant.before)
        (folder / "after").write_text(mutant.after)
        (folder / "Dockerfile").write_text(_DOCKERFILE.format(base=base, module=mutant.module))
        subprocess.run(["docker", "build", "--quiet", "-t", tag, context], check=True)
    return tag


def _compose(*args: str, image: str | None = None, small_disks: bool = False) -> None:
    # RAFTQ_CHAOS: the nodes get the chaos suite's faults (docker-compose.chaos.yml).
    env = os.environ | {"RAFTQ_CHAOS": "1"} | ({"RAFTQ_IMAGE": image} if image else {})
    if small_disks:
        env |= {"RAFTQ_FAULT_SMALL_DISKS_MB": "4096"}
    subprocess.run([str(COMPOSE_DIR / "raftq-compose"), *args], check=True, env=env, timeout=600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.mutant", description=__doc__)
    parser.add_argument("mutant", choices=tuple(MUTANTS))
    parser.add_argument("--fault-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    mutant = MUTANTS[args.mutant]
    image = build(mutant)
    out = RESULTS / f"mutant-{mutant.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    _compose("down", "-v")
    try:
        _compose("up", image=image, small_disks=CELLS[mutant.cell].small_disks)
        result = asyncio.run(
            run_cell(
                Deployment(),
                CELLS[mutant.cell],
                out,
                fault_s=args.fault_s,
                recovery_s=20.0,
                drain_max_s=60.0,
            )
        )
    finally:
        try:
            _compose("down", "-v")
        except subprocess.CalledProcessError as error:  # the verdict below still stands
            print(f"mutant: taking the deployment down failed: {error}", file=sys.stderr)
    print(result.render())
    caught = not result.passed
    print(f"mutant {mutant.name}: {'CAUGHT' if caught else 'NOT CAUGHT'} by cell {mutant.cell}")
    return 0 if caught else 1


if __name__ == "__main__":
    sys.exit(main())

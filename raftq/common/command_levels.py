"""Command levels: which Raft entry formats a node applies, so old and new nodes share a group.

A node's *level* L means it applies entry formats v1 to vL (commands.py). Each member advertises
its level on its answers to the leader's AppendEntries (raft/member_levels.py); the leader writes
a format only once every member of the group advertised a level at least as high, so no member
is ever handed an entry it cannot apply during a rolling upgrade (docs/upgrades.md).

The same level picks the frontend ↔ backend channel version a node serves (channel/frames.py):
a node run at an older level behaves as the release that had it, on the wire as in the log.
"""

from __future__ import annotations

from typing import Final

# The level of a member that advertises none: releases before levels existed, which apply
# v1 (`CommandBatch`) and v2 (`SplicedBatch`) entries and nothing newer.
UNADVERTISED_LEVEL: Final = 2
# This code's level: it applies v3 (`CompactBatch`) entries too.
CODE_LEVEL: Final = 3
# The lowest level a node may be capped at (`--max-command-level`): the leader's path writes
# v2 entries at the least (it splices commands it never decodes, which v1 cannot carry).
LOWEST_CAP: Final = UNADVERTISED_LEVEL

MAX_COMMAND_LEVEL_ENV: Final = "RAFTQ_MAX_COMMAND_LEVEL"

# The channel versions (channel/frames.py): 2 from command level 3 on.
CHANNEL_V1: Final = 1
CHANNEL_V2: Final = 2


def channel_version(level: int) -> int:
    """The newest channel version a node at `level` speaks (as the release that had it)."""
    return CHANNEL_V2 if level >= 3 else CHANNEL_V1

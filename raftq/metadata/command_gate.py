"""Which metadata commands need this release's command level (common/command_levels.py), and
the leader's refusal of them while its group has not agreed on it.

A restore's `CreateQueue` carries its source queue's data keys and sealing identity, fields the
release before this one does not know, and `SetClusterMembers` (after a membership change) is a
command it does not know at all: a metadata member of that release cannot decode the
entry, and its catalogue would go on without the queue the others have. Such a command has no
older form, so while a member of the group advertises a lower level (raft/member_levels.py) the
leader refuses it before proposing anything (`UpgradeInProgress`, retryable); every other
command encodes as it did before and is proposed as usual.
"""

from __future__ import annotations

from raftq.common.command_levels import CODE_LEVEL, UNADVERTISED_LEVEL
from raftq.common.errors import UpgradeInProgress
from raftq.common.metadata_commands import AnyMetadataCommand, CreateQueue, SetClusterMembers


def level_required(command: AnyMetadataCommand) -> int:
    """The lowest command level whose members all decode `command`."""
    if isinstance(command, CreateQueue) and (command.data_keys or command.sealing_id):
        return CODE_LEVEL
    if isinstance(command, SetClusterMembers):
        return CODE_LEVEL
    return UNADVERTISED_LEVEL


def check_level(command: AnyMetadataCommand, agreed_level: int | None) -> None:
    """Raise `UpgradeInProgress` unless the group's agreed level (None: not known yet, counted
    as the lowest) reaches what `command` needs."""
    required = level_required(command)
    agreed = UNADVERTISED_LEVEL if agreed_level is None else agreed_level
    if agreed < required:
        raise UpgradeInProgress(
            f"{command.kind} needs command level {required} on every member of the metadata "
            f"group, which is at level {agreed}: finish upgrading it, then retry"
        )

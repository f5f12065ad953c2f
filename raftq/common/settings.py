"""Typed, validated settings: one object per service, built once in `main` and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from raftq.common import limits
from raftq.common.command_levels import CODE_LEVEL, LOWEST_CAP
from raftq.common.credentials import OPERATOR_SECRET_OPTION
from raftq.common.internal_tls import InternalTls


class StoreSettings(BaseModel):
    """Where and how a replica keeps its RocksDB state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    # Sync each state machine WriteBatch to disk. Not needed for durability once the Raft log is
    # fsynced (a lost suffix of applied state is replayed from the log); on for a store used alone.
    sync_writes: bool = False
    # RocksDB block cache; messages are read back soon after they are written, so a modest
    # cache covers the hot tail of every queue.
    block_cache_bytes: Annotated[int, Field(ge=1 << 20, le=1 << 40)] = 64 << 20


_ADDRESS = r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$"
MaxCommandLevel = Annotated[int, Field(ge=LOWEST_CAP, le=CODE_LEVEL)]
# Where a node reads its Raft secret (client/node_commands.py), named in the errors about it.
RAFT_SECRET_OPTION = "--raft-secret-file or RAFTQ_RAFT_SECRET"
CLUSTER_SECRET_OPTION = "--secret-file or RAFTQ_CLUSTER_SECRET"


class RaftTimings(BaseModel):
    """Raft timings. Chosen on a 2-core machine (../shared/notes/pysyncobj.md): election timeouts
    below about 1.0/2.5 s caused spurious elections under CPU load; a leader that hears from no
    majority steps down after `leader_fallback_s`, about one minimum election timeout, so it
    stops acting before a new leader can have been elected for long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The tick is the longest a leader (or a member missing a peer) sleeps: pysyncobj's thread
    # wakes earlier on every socket event and every proposal (a pipe it polls), so commits
    # never wait for a tick, and a leader sleeps only until its next heartbeat round. A
    # follower sleeps until its election deadline, which every heartbeat pushes back.
    # Heartbeats of 0.2 s keep an idle `raftq up` at about 2 % of a core (bench/idle_bench.py);
    # 5 ms ticks and 20 ms heartbeats cost 24 %.
    tick_s: Annotated[float, Field(gt=0, le=1)] = 0.25
    # Heartbeats (an AppendEntries with no entries) when the leader has nothing to send. Entries
    # are sent as soon as they are proposed, whatever this period.
    append_entries_period_s: Annotated[float, Field(gt=0, le=1)] = 0.25
    election_timeout_min_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    election_timeout_max_s: Annotated[float, Field(gt=0, le=120)] = 2.5
    leader_fallback_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    connection_timeout_s: Annotated[float, Field(gt=0, le=120)] = 3.5
    connection_retry_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    # How long a failed name lookup of a peer is believed. pysyncobj's default is 30 s, and only
    # the member with the greater address connects to a peer; a member that started while a peer
    # was down (Docker's DNS has no name for a stopped container) then never connected to it for
    # 30 s, and two live members of three could not elect a leader (docs/chaos.md).
    dns_fail_cache_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    # How long a resolved member name is trusted (pysyncobj's default is 600 s): a member
    # rescheduled under its name with a new address is reached again within this.
    dns_cache_s: Annotated[float, Field(ge=0, le=600)] = 10.0
    # Snapshots copy the whole state: keep them rare (see raft/node.py).
    compaction_min_entries: Annotated[int, Field(ge=2)] = 50_000
    compaction_min_time_s: Annotated[float, Field(gt=0)] = 3_600.0
    # ... or once the log file holds this many bytes (limits.RAFT_LOG_COMPACTION_BYTES).
    compaction_min_log_bytes: Annotated[int, Field(ge=1)] = limits.RAFT_LOG_COMPACTION_BYTES

    @model_validator(mode="after")
    def _consistent(self) -> RaftTimings:
        if not self.election_timeout_min_s > 3 * self.append_entries_period_s:
            raise ValueError("election_timeout_min_s must exceed 3 append-entries periods")
        if not self.election_timeout_max_s > self.election_timeout_min_s:
            raise ValueError("election_timeout_max_s must exceed election_timeout_min_s")
        if not self.tick_s <= self.append_entries_period_s:
            raise ValueError("tick_s must not exceed append_entries_period_s (heartbeats wait)")
        if not self.leader_fallback_s > self.append_entries_period_s:
            raise ValueError("leader_fallback_s must exceed the append-entries period")
        if not self.connection_timeout_s >= self.election_timeout_max_s:
            raise ValueError("connection_timeout_s must be at least election_timeout_max_s")
        return self


class RaftSettings(BaseModel):
    """One member of a Raft group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    self_address: Annotated[str, Field(pattern=_ADDRESS)]
    peers: tuple[Annotated[str, Field(pattern=_ADDRESS)], ...]
    data_dir: Path
    # Authenticates and encrypts Raft traffic (pysyncobj `password`, raft/wire_cipher.py), and
    # nothing else. pysyncobj unpickles what it decrypts, so only the group's members may hold
    # it: not the cluster secret, which frontends and operators hold too.
    raft_secret: SecretStr | None = None
    insecure_development_mode: bool = False
    timings: RaftTimings = RaftTimings()
    # Test-only switches: `fsync=False` shows the power-loss test failing; `witness_syncs`
    # records the synced length of the log so a test can cut power.
    fsync: bool = True
    witness_syncs: bool = False
    # The newest command level this member advertises and applies (common/command_levels.py).
    max_command_level: MaxCommandLevel = CODE_LEVEL

    @model_validator(mode="after")
    def _secure_and_consistent(self) -> RaftSettings:
        if self.raft_secret is None and not self.insecure_development_mode:
            raise ValueError(
                f"a raft secret is required ({RAFT_SECRET_OPTION}), "
                "unless in the explicit insecure development mode"
            )
        if self.raft_secret is not None and len(self.raft_secret.get_secret_value()) < 16:
            raise ValueError(
                f"the raft secret ({RAFT_SECRET_OPTION}) must have at least 16 characters"
            )
        if self.self_address in self.peers:
            raise ValueError("peers must not include self_address")
        if len(set(self.peers)) != len(self.peers):
            raise ValueError("peers must be distinct")
        return self


class Member(BaseModel):
    """One node of a group: its id, zone and both addresses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    zone: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    raft_address: Annotated[str, Field(pattern=_ADDRESS)]
    api_address: Annotated[str, Field(pattern=_ADDRESS)]


class GroupCommitSettings(BaseModel):
    """How the leader gathers concurrent requests into one Raft entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_commands: Annotated[int, Field(ge=1, le=10_000)] = 256
    # A batch's encoded commands stay below this (a single larger command goes alone): small
    # entries keep each AppendEntries, fsync and apply short. Entries up to 16 MiB are sent to
    # followers whole (raft/node.py MAX_ENTRY_BYTES).
    max_bytes: Annotated[int, Field(ge=1_024, le=1 << 20)] = 48 * 1024
    max_in_flight: Annotated[int, Field(ge=1, le=64)] = 4
    propose_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    # Commands waiting for a proposal slot: beyond this the leader answers `Overloaded` (503,
    # Retry-After) at once instead of queueing work it would finish after its callers gave up.
    max_waiting: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000


class NodeSettings(BaseModel):
    """What every Raft-backed node process shares (`raftq backend`, `raftq metadata`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    data_dir: Path
    members: tuple[Member, ...]
    # Signs and checks nodes' internal HTTP requests among themselves (raft/node_http.py,
    # common/cluster_auth.py): held by the metadata and backend nodes only.
    cluster_secret: SecretStr | None = None
    # Checks operators' requests (`raftq admin`) on the routes operators may call
    # (docs/internal-api.md); None: no operator is accepted. Frontends have credentials of
    # their own, issued by operators and kept by the metadata group (common/credentials.py).
    operator_secret: SecretStr | None = None
    # The Raft wire's own credential (RaftSettings.raft_secret): held by the group's members only.
    raft_secret: SecretStr | None = None
    insecure_development_mode: bool = False
    # TLS on the API port and on this node's calls to other nodes (common/internal_tls.py):
    # all three files or none.
    tls: InternalTls = InternalTls()
    timings: RaftTimings = RaftTimings()
    # Largest request body the internal API reads (a batch of 1 MiB messages plus framing).
    max_request_bytes: Annotated[int, Field(ge=1_024, le=64 << 20)] = 12 << 20
    fsync: bool = True
    witness_syncs: bool = False
    # A new member of a running group (`--join`): until a leader has been heard, which happens
    # once the group added it, it starts no election (raft/member_changes.py).
    join: bool = False
    # Operators and tests only: run at an older command level, as the release that had it
    # (`--max-command-level`, docs/upgrades.md).
    max_command_level: MaxCommandLevel = CODE_LEVEL

    @model_validator(mode="after")
    def _self_is_a_member(self) -> NodeSettings:
        ids = [member.node_id for member in self.members]
        if self.node_id not in ids:
            raise ValueError("node_id must be one of the members")
        if len(set(ids)) != len(ids):
            raise ValueError("member node ids must be distinct")
        if self.cluster_secret is None and not self.insecure_development_mode:
            raise ValueError(
                f"a cluster secret is required ({CLUSTER_SECRET_OPTION}; or, for development "
                "only, --insecure-development-mode)"
            )
        if self.cluster_secret is not None and len(self.cluster_secret.get_secret_value()) < 16:
            raise ValueError("the cluster secret must have at least 16 characters")
        self.raft  # noqa: B018 (validates the Raft side, the raft secret's rules included)
        check_raft_secret(self.raft_secret, cluster=self.cluster_secret)
        check_operator_secret(
            self.operator_secret, cluster=self.cluster_secret, raft=self.raft_secret
        )
        self.tls.check_for_node()
        return self

    @property
    def me(self) -> Member:
        return next(member for member in self.members if member.node_id == self.node_id)

    @property
    def raft(self) -> RaftSettings:
        return RaftSettings(
            self_address=self.me.raft_address,
            peers=tuple(m.raft_address for m in self.members if m.node_id != self.node_id),
            data_dir=self.data_dir / "raft",
            raft_secret=self.raft_secret,
            insecure_development_mode=self.insecure_development_mode,
            timings=self.timings,
            fsync=self.fsync,
            witness_syncs=self.witness_syncs,
            max_command_level=self.max_command_level,
        )

    @property
    def store(self) -> StoreSettings:
        return StoreSettings(path=self.data_dir / "state")


class BackendNodeSettings(NodeSettings):
    """Settings of one backend replica process (`raftq backend`)."""

    # With both set, the node registers its cluster with the metadata group and reports its
    # load every `report_interval_s` (a failed report is retried within a second); the metadata
    # group counts a cluster healthy while a majority of its members reported within its health
    # window, three intervals (metadata/placement.py).
    cluster_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    metadata: tuple[Annotated[str, Field(pattern=_ADDRESS)], ...] = ()
    report_interval_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    group_commit: GroupCommitSettings = GroupCommitSettings()
    # The budget of due transitions one Raft entry may make (backend/work_budget.py). Replicated
    # behaviour: every member of a cluster must run the same figure (a replica with another one
    # diverges, and its digest shows it). The default keeps an entry's apply under about 70 ms
    # on a slow machine; a larger one lets a mass transition stall heartbeats and cause
    # elections (bench/mass_transition_bench.py --unbudgeted shows it), so raise it only where
    # that bench shows no election at the new figure.
    due_transitions_per_entry: Annotated[int, Field(ge=1, le=limits.EXPIRE_TRANSITIONS_MAX)] = (
        limits.DUE_TRANSITIONS_PER_ENTRY
    )
    # The expiry sweep (backend/ops_expire.py) advances queues nobody touches, and finishes what
    # a mass transition left over: every queue command advances its own queue first, but makes
    # at most `due_transitions_per_entry` due transitions per entry. The leader looks for due
    # work every `expire_interval_s` and, when there is some, proposes sweeps back to back until
    # one finishes; each makes at most `expire_max_transitions` (None: the entry's budget), and
    # no more than its entry's budget whatever this says.
    expire_interval_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    expire_max_transitions: Annotated[int, Field(ge=1, le=limits.EXPIRE_TRANSITIONS_MAX)] | None = (
        None
    )

    @property
    def expire_sweep_transitions(self) -> int:
        """How many due transitions one expiry sweep asks for."""
        if self.expire_max_transitions is None:
            return self.due_transitions_per_entry
        return self.expire_max_transitions


def read_secret(path: Path | None, variable: str) -> str | None:
    """A secret from its file, else from the environment variable; None if neither is set."""
    if path is not None:
        return path.read_text().strip()
    return os.environ.get(variable) or None


def check_operator_secret(
    operator: SecretStr | None, *, cluster: SecretStr | None, raft: SecretStr | None
) -> None:
    """The operator secret has at least 16 characters and differs from the nodes' secrets:
    operators must not be able to act as a node, nor talk Raft."""
    if operator is None:
        return
    value = operator.get_secret_value()
    if len(value) < 16:
        raise ValueError(
            f"the operator secret ({OPERATOR_SECRET_OPTION}) must have at least 16 characters"
        )
    for name, other in (("cluster", cluster), ("raft", raft)):
        if other is not None and value == other.get_secret_value():
            raise ValueError(
                f"the operator secret ({OPERATOR_SECRET_OPTION}) must differ from the {name} "
                "secret, which only nodes hold"
            )


def check_raft_secret(raft: SecretStr | None, *, cluster: SecretStr | None) -> None:
    """The raft secret differs from the cluster secret: Raft members unpickle what it opens,
    and the cluster secret signs HTTP requests (which are never unpickled)."""
    if raft is None:
        return
    if cluster is not None and raft.get_secret_value() == cluster.get_secret_value():
        raise ValueError(
            f"the raft secret ({RAFT_SECRET_OPTION}) must differ from the cluster secret"
        )


class MetadataNodeSettings(NodeSettings):
    """Settings of one metadata node process (`raftq metadata`)."""

    max_request_bytes: Annotated[int, Field(ge=1_024, le=64 << 20)] = 1 << 20
    propose_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    # 32 bytes, hex: seals access-key secrets (metadata/sealing.py). Without it, keys cannot be
    # created or verified by this node.
    master_key: SecretStr | None = None

    @model_validator(mode="after")
    def _master_key_is_32_hex_bytes(self) -> MetadataNodeSettings:
        if self.master_key is not None:
            value = self.master_key.get_secret_value()
            if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
                raise ValueError("master_key must be 32 bytes written as 64 hex digits")
        return self

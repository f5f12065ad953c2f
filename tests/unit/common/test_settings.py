"""Settings refuse unsafe or inconsistent combinations when they are built, not later."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from raftq.common import limits
from raftq.common.settings import (
    BackendNodeSettings,
    Member,
    MetadataNodeSettings,
    NodeSettings,
    RaftSettings,
    RaftTimings,
)

SECRET = SecretStr("sixteen-chars-ok")
RAFT_SECRET = SecretStr("raft-members-only")
OPERATOR_SECRET = SecretStr("operators-only-secret")
# The errors about the raft secret name where it comes from.
REQUIRED = re.escape("a raft secret is required (--raft-secret-file or RAFTQ_RAFT_SECRET)")
TOO_SHORT = re.escape(
    "the raft secret (--raft-secret-file or RAFTQ_RAFT_SECRET) must have at least 16 characters"
)
MUST_DIFFER = re.escape(
    "the raft secret (--raft-secret-file or RAFTQ_RAFT_SECRET) must differ from "
)


def raft_settings(**overrides: Any) -> RaftSettings:
    fields: dict[str, Any] = {
        "self_address": "10.0.0.1:4321",
        "peers": ("10.0.0.2:4321", "10.0.0.3:4321"),
        "data_dir": Path("/var/lib/raftq/raft"),
        "raft_secret": RAFT_SECRET,
    }
    fields.update(overrides)
    return RaftSettings(**fields)


def member(number: int, node_id: str | None = None) -> Member:
    return Member(
        node_id=node_id or f"node-{number}",
        zone=f"zone-{number}",
        raft_address=f"10.0.0.{number}:4321",
        api_address=f"10.0.0.{number}:8080",
    )


def node_settings(kind: type[NodeSettings], **overrides: Any) -> NodeSettings:
    fields: dict[str, Any] = {
        "node_id": "node-2",
        "data_dir": Path("/var/lib/raftq"),
        "members": (member(1), member(2), member(3)),
        "cluster_secret": SECRET,
        "raft_secret": RAFT_SECRET,
    }
    fields.update(overrides)
    return kind(**fields)


def backend_settings(**overrides: Any) -> BackendNodeSettings:
    settings = node_settings(BackendNodeSettings, **overrides)
    assert isinstance(settings, BackendNodeSettings)
    return settings


# --- RaftSettings ------------------------------------------------------------------------------


def test_raft_settings_with_a_secret_build() -> None:
    settings = raft_settings()
    assert settings.peers == ("10.0.0.2:4321", "10.0.0.3:4321")


def test_raft_settings_refuse_to_build_without_a_secret() -> None:
    # Given no raft secret and no explicit insecure mode
    # When the settings are built, then they are refused (pickle on an open port otherwise)
    with pytest.raises(ValidationError, match=REQUIRED):
        raft_settings(raft_secret=None)


def test_raft_settings_without_a_secret_build_in_insecure_development_mode() -> None:
    settings = raft_settings(raft_secret=None, insecure_development_mode=True)
    assert settings.raft_secret is None


@pytest.mark.parametrize("secret", ["", "fifteen-chars!!"])
def test_a_raft_secret_shorter_than_sixteen_characters_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match=TOO_SHORT):
        raft_settings(raft_secret=SecretStr(secret))


def test_a_short_secret_is_refused_even_in_insecure_development_mode() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        raft_settings(raft_secret=SecretStr("short"), insecure_development_mode=True)


def test_self_among_the_peers_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not include self_address"):
        raft_settings(peers=("10.0.0.1:4321", "10.0.0.2:4321"))


def test_a_peer_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="distinct"):
        raft_settings(peers=("10.0.0.2:4321", "10.0.0.2:4321"))


@pytest.mark.parametrize("address", ["10.0.0.1", "10.0.0.1:port", "host name:1", ":4321"])
def test_an_address_without_a_port_or_with_odd_characters_is_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        raft_settings(self_address=address)


def test_the_secret_is_not_shown_when_settings_are_printed() -> None:
    assert RAFT_SECRET.get_secret_value() not in repr(raft_settings())
    assert SECRET.get_secret_value() not in repr(backend_settings())
    assert RAFT_SECRET.get_secret_value() not in repr(backend_settings())


# --- RaftTimings -------------------------------------------------------------------------------


def test_default_timings_are_consistent() -> None:
    timings = RaftTimings()
    assert timings.election_timeout_min_s > 3 * timings.append_entries_period_s


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"append_entries_period_s": 0.5, "election_timeout_min_s": 1.5},
            "exceed 3 append-entries periods",
        ),
        (
            {"election_timeout_min_s": 2.0, "election_timeout_max_s": 2.0},
            "election_timeout_max_s must exceed",
        ),
        ({"leader_fallback_s": 0.02}, "leader_fallback_s must exceed"),
        ({"connection_timeout_s": 2.4}, "connection_timeout_s must be at least"),
        ({"tick_s": 0.3}, "tick_s must not exceed append_entries_period_s"),
    ],
    ids=[
        "election-vs-heartbeat",
        "max-vs-min",
        "fallback-vs-heartbeat",
        "connection-vs-election",
        "tick-vs-heartbeat",
    ],
)
def test_inconsistent_timings_are_refused(fields: dict[str, float], message: str) -> None:
    # Given timings that break one cross-field rule (every other field at its default)
    # When they are built, then the broken rule is named
    with pytest.raises(ValidationError, match=message):
        RaftTimings(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"append_entries_period_s": 0.25, "election_timeout_min_s": 0.76},
        {"election_timeout_min_s": 2.0, "election_timeout_max_s": 2.01, "connection_timeout_s": 3},
        {"leader_fallback_s": 0.251},
        {"connection_timeout_s": 2.5},
        {"tick_s": 0.25, "append_entries_period_s": 0.25},
    ],
    ids=[
        "election-vs-heartbeat",
        "max-vs-min",
        "fallback-vs-heartbeat",
        "connection-vs-election",
        "tick-vs-heartbeat",
    ],
)
def test_timings_just_inside_each_rule_are_accepted(fields: dict[str, float]) -> None:
    RaftTimings(**fields)


@pytest.mark.parametrize(
    "fields",
    [{"tick_s": 0}, {"tick_s": 1.5}, {"compaction_min_entries": 1}, {"connection_retry_s": -1}],
)
def test_timings_out_of_range_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RaftTimings(**fields)


def test_timings_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        RaftTimings(election_timeout_s=1.0)  # type: ignore[call-arg]


# --- BackendNodeSettings -----------------------------------------------------------------------


def test_backend_settings_derive_the_raft_side_from_the_members() -> None:
    # Given node-2 of a three-member group
    settings = backend_settings(witness_syncs=True)
    # When its Raft settings are derived
    raft = settings.raft
    # Then it is itself, the other two are its peers, and its log lives under its data dir
    assert raft.self_address == "10.0.0.2:4321"
    assert raft.peers == ("10.0.0.1:4321", "10.0.0.3:4321")
    assert raft.data_dir == Path("/var/lib/raftq/raft")
    assert raft.raft_secret == RAFT_SECRET  # the cluster secret stays with the HTTP API
    assert raft.timings == settings.timings
    assert (raft.fsync, raft.witness_syncs) == (True, True)
    assert settings.store.path == Path("/var/lib/raftq/state")
    assert settings.me == member(2)


def test_a_node_id_that_is_not_a_member_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be one of the members"):
        backend_settings(node_id="node-9")


def test_duplicate_member_ids_are_refused() -> None:
    # Given two members sharing an id (at different addresses)
    members = (member(1), member(2), member(3, node_id="node-1"))
    # When the settings are built, then they are refused
    with pytest.raises(ValidationError, match="distinct"):
        backend_settings(members=members)


def test_backend_settings_apply_the_cluster_secret_rule() -> None:
    with pytest.raises(ValidationError, match="cluster secret is required"):
        backend_settings(cluster_secret=None)
    with pytest.raises(ValidationError, match="cluster secret must have at least 16"):
        backend_settings(cluster_secret=SecretStr("short"))
    settings = backend_settings(
        cluster_secret=None, raft_secret=None, insecure_development_mode=True
    )
    assert settings.raft.insecure_development_mode


@pytest.mark.parametrize("kind", [BackendNodeSettings, MetadataNodeSettings])
def test_a_node_without_a_raft_secret_is_refused_naming_it(kind: type[NodeSettings]) -> None:
    # Given a node with the cluster secret only (what a frontend holds too)
    # When its settings are built, then they are refused, naming where the raft secret comes from
    with pytest.raises(ValidationError, match=REQUIRED):
        node_settings(kind, raft_secret=None)


@pytest.mark.parametrize("kind", [BackendNodeSettings, MetadataNodeSettings])
@pytest.mark.parametrize("secret", ["", "fifteen-chars!!"])
def test_a_node_with_a_short_raft_secret_is_refused_naming_it(
    kind: type[NodeSettings], secret: str
) -> None:
    with pytest.raises(ValidationError, match=TOO_SHORT):
        node_settings(kind, raft_secret=SecretStr(secret))


@pytest.mark.parametrize("kind", [BackendNodeSettings, MetadataNodeSettings])
def test_the_raft_secret_may_not_be_the_cluster_secret(kind: type[NodeSettings]) -> None:
    # Given a raft secret equal to the cluster secret
    # When the settings are built, then they are refused: each plane has its own credential
    with pytest.raises(ValidationError, match=MUST_DIFFER + "the cluster secret"):
        node_settings(kind, raft_secret=SECRET)


@pytest.mark.parametrize("kind", [BackendNodeSettings, MetadataNodeSettings])
@pytest.mark.parametrize("other", ["cluster", "raft"])
def test_the_operator_secret_may_not_be_a_node_secret(kind: type[NodeSettings], other: str) -> None:
    # Given an operator secret equal to a secret only nodes hold
    same = SECRET if other == "cluster" else RAFT_SECRET
    # When the settings are built, then they are refused, naming where the secret comes from
    with pytest.raises(
        ValidationError,
        match=rf"operator secret \(--operator-secret-file or RAFTQ_OPERATOR_SECRET\) must "
        rf"differ from the {other} secret",
    ):
        node_settings(kind, operator_secret=same)


def test_a_short_operator_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"--operator-secret-file.*at least 16 characters"):
        backend_settings(operator_secret=SecretStr("short"))


def test_three_distinct_secrets_build() -> None:
    settings = backend_settings(operator_secret=OPERATOR_SECRET)
    assert settings.raft.raft_secret == RAFT_SECRET
    assert settings.cluster_secret == SECRET
    assert settings.operator_secret == OPERATOR_SECRET


def test_two_members_sharing_a_raft_address_are_refused() -> None:
    members = (member(1), member(2), member(3).model_copy(update={"raft_address": "10.0.0.1:4321"}))
    with pytest.raises(ValidationError, match="distinct"):
        backend_settings(members=members)


def test_a_single_member_group_has_no_peers() -> None:
    settings = backend_settings(node_id="solo", members=(member(1, node_id="solo"),))
    assert settings.raft.peers == ()


def test_a_backend_makes_the_default_budget_of_due_transitions_and_sweeps_as_much() -> None:
    settings = backend_settings()
    assert settings.due_transitions_per_entry == limits.DUE_TRANSITIONS_PER_ENTRY
    assert settings.expire_sweep_transitions == limits.DUE_TRANSITIONS_PER_ENTRY


def test_an_expiry_sweep_asks_for_the_budget_it_is_given_unless_set_apart() -> None:
    assert backend_settings(due_transitions_per_entry=5_000).expire_sweep_transitions == 5_000
    assert (
        backend_settings(
            due_transitions_per_entry=5_000, expire_max_transitions=100
        ).expire_sweep_transitions
        == 100
    )


@pytest.mark.parametrize("budget", [0, -1, limits.EXPIRE_TRANSITIONS_MAX + 1])
def test_a_budget_of_due_transitions_out_of_range_is_refused_naming_it(budget: int) -> None:
    with pytest.raises(ValidationError, match="due_transitions_per_entry"):
        backend_settings(due_transitions_per_entry=budget)

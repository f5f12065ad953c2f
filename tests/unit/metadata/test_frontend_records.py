"""Frontend credentials in the metadata state: one live credential per name, revoked ones kept
(refused), sealed secrets only, a snapshot that round-trips them, and an audit entry for each
change. Pure: the state machine alone."""

from __future__ import annotations

import msgpack

from raftq.common.errors import ConflictingState, FrontendNotFound
from raftq.common.metadata_commands import CreateFrontend, RevokeFrontend
from raftq.common.results import Done, Failure
from raftq.metadata.sealing import seal, unseal
from raftq.metadata.state import MetadataState
from tests.unit.metadata.test_metadata_state_machine import Metadata

MASTER = bytes(range(32))
FIRST, SECOND = "RF" + "A" * 18, "RF" + "B" * 18


def create(m: Metadata, frontend_id: str, name: str = "fe-1") -> object:
    sealed = seal(MASTER, frontend_id, "the-secret-of-" + frontend_id)
    return m.run(
        CreateFrontend(
            now_ms=m.now_ms, actor="op", frontend_id=frontend_id, name=name,
            secret_ciphertext=sealed,
        )
    )  # fmt: skip


def test_a_frontend_credential_is_kept_sealed_and_audited() -> None:
    m = Metadata()
    assert isinstance(create(m, FIRST), Done)
    record = m.machine.state.frontends[FIRST]
    assert b"the-secret-of" not in record.secret_ciphertext
    assert unseal(MASTER, FIRST, record.secret_ciphertext) == "the-secret-of-" + FIRST
    assert [(e.action, e.target) for e in m.machine.state.audit] == [("create_frontend", "fe-1")]


def test_a_name_has_one_live_credential_and_a_revoked_one_makes_room() -> None:
    m = Metadata()
    create(m, FIRST)
    # A second credential for the same live name is refused and changes nothing
    refused = create(m, SECOND)
    assert isinstance(refused, Failure) and refused.code == ConflictingState.code
    assert list(m.machine.state.frontends) == [FIRST]
    # Once revoked, the old one stays (refused), and the name can have a new one
    assert isinstance(m.run(RevokeFrontend(now_ms=m.now_ms, actor="op", name="fe-1")), Done)
    assert m.machine.state.frontends[FIRST].revoked_at_ms == m.now_ms
    assert isinstance(create(m, SECOND), Done)
    assert m.machine.state.frontends[SECOND].revoked_at_ms is None
    # A taken id is refused even under another name
    again = create(m, FIRST, name="fe-2")
    assert isinstance(again, Failure) and again.code == ConflictingState.code


def test_revoking_a_name_without_a_live_credential_is_not_found() -> None:
    m = Metadata()
    missing = m.run(RevokeFrontend(now_ms=m.now_ms, actor="op", name="nobody"))
    assert isinstance(missing, Failure) and missing.code == FrontendNotFound.code


def test_a_snapshot_round_trips_frontend_credentials_and_an_older_one_has_none() -> None:
    m = Metadata()
    create(m, FIRST)
    m.run(RevokeFrontend(now_ms=m.now_ms, actor="op", name="fe-1"))
    create(m, SECOND)
    raw = m.machine.state.to_bytes()
    restored = MetadataState.from_bytes(raw)
    assert restored.frontends == m.machine.state.frontends
    older = msgpack.unpackb(raw, raw=False)
    older["v"] = 3
    del older["frontends"]
    assert MetadataState.from_bytes(msgpack.packb(older, use_bin_type=True)).frontends == {}

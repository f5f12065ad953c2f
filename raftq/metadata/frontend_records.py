"""Apply of the frontend credential commands (pure, like handlers.py): at most one live
credential has a name; a revoked one stays, refused, in the state."""

from __future__ import annotations

from raftq.common.errors import ConflictingState, FrontendNotFound
from raftq.common.metadata_commands import CreateFrontend, RevokeFrontend
from raftq.common.metadata_models import FrontendRecord
from raftq.common.results import Done
from raftq.metadata.state import MetadataState


def live_frontend(state: MetadataState, name: str) -> FrontendRecord | None:
    return next(
        (f for f in state.frontends.values() if f.name == name and f.revoked_at_ms is None), None
    )


def create_frontend(state: MetadataState, c: CreateFrontend) -> Done:
    """Apply: refuses a name that has a live credential (revoke it first) and a taken id."""
    if live_frontend(state, c.name) is not None:
        raise ConflictingState(f"frontend {c.name!r} has a live credential", field="name")
    if c.frontend_id in state.frontends:
        raise ConflictingState("the frontend id is taken", field="frontend_id")
    state.frontends[c.frontend_id] = FrontendRecord(
        frontend_id=c.frontend_id,
        name=c.name,
        secret_ciphertext=c.secret_ciphertext,
        created_at_ms=c.now_ms,
    )
    return Done()


def revoke_frontend(state: MetadataState, c: RevokeFrontend) -> Done:
    found = live_frontend(state, c.name)
    if found is None:
        raise FrontendNotFound(f"frontend {c.name!r} has no live credential", field="name")
    state.frontends[found.frontend_id] = found.model_copy(update={"revoked_at_ms": c.now_ms})
    return Done()

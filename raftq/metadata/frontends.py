"""Frontend credentials (common/credentials.py), one per frontend, issued and revoked by
operators.

Issuing one: the leader draws the id and the secret, seals the secret under the master key
(sealing.py, the id bound as associated data), commits the sealed form, and hands the plaintext
back exactly once. Checking one: a metadata node opens it from its own replicated state, so a
revocation counts on a member as soon as it applied it (on the leader: once it committed);
backends ask the metadata leader (`/v1/frontends/lookup`, nodes only) and cache the answer
briefly (backend/frontend_secrets.py). Applying the commands: frontend_records.py."""

from __future__ import annotations

import secrets
import string

from raftq.common.errors import ConflictingState
from raftq.common.metadata_api import CreatedFrontend, FrontendSecret
from raftq.common.metadata_commands import CreateFrontend
from raftq.common.results import Failure
from raftq.metadata.node import MetadataNode
from raftq.metadata.sealing import seal, unseal

_ID_ALPHABET = string.ascii_uppercase + string.digits


def _master_key(node: MetadataNode) -> bytes:
    master = node.settings.master_key
    if master is None:
        raise ConflictingState("this metadata node has no master key to seal secrets with")
    return bytes.fromhex(master.get_secret_value())


async def issue_frontend(node: MetadataNode, name: str, actor: str) -> CreatedFrontend:
    frontend_id = "RF" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))
    secret = secrets.token_urlsafe(30)
    sealed = seal(_master_key(node), frontend_id, secret)
    result = await node.execute(
        CreateFrontend(
            now_ms=0, actor=actor, frontend_id=frontend_id, name=name, secret_ciphertext=sealed
        )
    )
    if isinstance(result, Failure):
        raise result.to_error()
    return CreatedFrontend(frontend_id=frontend_id, name=name, secret=secret)


def frontend_secret(node: MetadataNode, frontend_id: str) -> FrontendSecret | None:
    """The live credential's secret, from this member's state; None if unknown or revoked."""
    with node.machine.lock:
        found = node.machine.machine.state.frontends.get(frontend_id)
    if found is None or found.revoked_at_ms is not None or node.settings.master_key is None:
        return None
    secret = unseal(_master_key(node), frontend_id, found.secret_ciphertext)
    return FrontendSecret(frontend_id=frontend_id, name=found.name, secret=secret)

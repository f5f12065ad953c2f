"""Access keys. Making one: the leader draws the id and the secret, seals the secret under the
master key, commits the sealed form, and hands the plaintext back exactly once to the admin.
Looking one up (for frontends verifying signatures): the leader unseals it and answers over the
signed internal API, with the principal's grants; a revoked key is not found."""

from __future__ import annotations

import secrets
import string

from raftq.common.errors import AccessKeyNotFound, ConflictingState
from raftq.common.metadata_api import CreatedKey, KeyCredentials
from raftq.common.metadata_commands import CreateAccessKey
from raftq.common.results import Failure
from raftq.metadata.node import MetadataNode
from raftq.metadata.sealing import seal, unseal

_ID_ALPHABET = string.ascii_uppercase + string.digits


async def create_access_key(node: MetadataNode, principal_id: str, actor: str) -> CreatedKey:
    master = node.settings.master_key
    if master is None:
        raise ConflictingState("this metadata node has no master key to seal secrets with")
    key_id = "RQ" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))
    secret = secrets.token_urlsafe(30)
    sealed = seal(bytes.fromhex(master.get_secret_value()), key_id, secret)
    result = await node.execute(
        CreateAccessKey(
            now_ms=0,
            actor=actor,
            principal_id=principal_id,
            key_id=key_id,
            secret_ciphertext=sealed,
        )
    )
    if isinstance(result, Failure):
        raise result.to_error()
    return CreatedKey(key_id=key_id, secret=secret)


def key_credentials(node: MetadataNode, key_id: str) -> KeyCredentials:
    master = node.settings.master_key
    if master is None:
        raise ConflictingState("this metadata node has no master key to open secrets with")
    with node.machine.lock:
        state = node.machine.machine.state
        key = state.keys.get(key_id)
        if key is None or key.revoked_at_ms is not None:
            raise AccessKeyNotFound("the access key is unknown or revoked", field="key_id")
        grants = tuple(g for g in state.grants if g.principal_id == key.principal_id)
    secret = unseal(bytes.fromhex(master.get_secret_value()), key_id, key.secret_ciphertext)
    return KeyCredentials(
        key_id=key_id, principal_id=key.principal_id, secret=secret, grants=grants
    )

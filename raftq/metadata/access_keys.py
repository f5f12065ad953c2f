"""Making an access key: the leader draws the id and the secret, seals the secret under the
master key, commits the sealed form, and hands the plaintext back exactly once."""

from __future__ import annotations

import secrets
import string

from raftq.common.errors import ConflictingState
from raftq.common.metadata_api import CreatedKey
from raftq.common.metadata_commands import CreateAccessKey
from raftq.common.results import Failure
from raftq.metadata.node import MetadataNode
from raftq.metadata.sealing import seal

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

"""Settings of a frontend process (`raftq frontend`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from raftq.common import limits
from raftq.common.credentials import Credential, frontend_credential
from raftq.common.internal_tls import InternalTls
from raftq.frontend.rate_limit import Limit

Address = Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")]


class FrontendSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Address
    # Prometheus `/metrics` is served here only (it names keys and queues); None: not served.
    metrics_listen: Address | None = None
    metadata: Annotated[tuple[Address, ...], Field(min_length=1)]
    # This frontend's own credential, `ID:SECRET` (common/credentials.py): it signs the
    # frontend's requests to the metadata group, which accepts it only on the routes a frontend
    # needs, and is proven to backends once per data-channel connection (common/channel/), until
    # an operator revokes it. A frontend holds neither the cluster secret (nodes only) nor the
    # operator secret nor any Raft credential, which only a group's members hold.
    credential: SecretStr
    # Master keys by id (64 hex digits each): `current` wraps new data keys, all unwrap.
    master_keys: dict[str, SecretStr]
    current_master_key: str
    # Every legal request fits, however its messages are escaped (limits.py).
    max_body_bytes: Annotated[int, Field(ge=1_024, le=64 << 20)] = limits.REQUEST_BODY_MAX_BYTES
    batch_max: Annotated[int, Field(ge=1, le=100)] = 10
    # How long a backend leader has to answer a command (plus a long poll's wait) before the
    # outcome is reported unknown (503) and that member is tried last for a while. A commit
    # takes milliseconds; a leader that takes seconds is paused, dead or cut off, and a new
    # one is elected within about 2.5 s (RaftTimings), so 3 s keeps failover under 5 s.
    backend_timeout_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    # The same for metadata commands (creating a queue also creates its replicas on a
    # cluster, so it gets longer); metadata reads get at most 3 s (metadata_api.READ_TIMEOUT_S).
    metadata_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    per_key: Limit = Limit(rate_per_s=2_000, burst=4_000)
    per_queue: Limit = Limit(rate_per_s=5_000, burst=10_000)
    # Append-only JSON lines of usage (key, queue, action, messages, bytes); None: metrics only.
    usage_log: Path | None = None
    # The log is renamed to FILE.1 (FILE.1 to FILE.2, …, up to `usage_log_backups`) once it
    # reaches this size, so it never grows without bound; 0: never rotated (an external
    # logrotate, or frontends sharing one file, which rotation by each of them would split).
    usage_log_max_bytes: Annotated[int, Field(ge=0)] = 64 << 20
    usage_log_backups: Annotated[int, Field(ge=1, le=100)] = 3
    # Serve the public API with HTTPS when both are set (PEM files).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The CA that verifies the metadata and backend nodes' certificates: with it, this frontend
    # calls them (HTTP and channel) over TLS only (common/internal_tls.py).
    internal_tls: InternalTls = InternalTls()

    @model_validator(mode="after")
    def _keys_are_usable(self) -> FrontendSettings:
        if self.current_master_key not in self.master_keys:
            raise ValueError("current_master_key must name one of master_keys")
        for key_id, key in self.master_keys.items():
            if not re.fullmatch(r"[0-9a-fA-F]{64}", key.get_secret_value()):
                raise ValueError(f"master key {key_id!r} must be 64 hex digits")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its key")
        self.own_credential()  # ID:SECRET, or an error naming where it comes from
        self.internal_tls.check_client_only("a frontend")
        return self

    def own_credential(self) -> Credential:
        return frontend_credential(self.credential.get_secret_value())

    def master_key_bytes(self) -> dict[str, bytes]:
        return {k: bytes.fromhex(v.get_secret_value()) for k, v in self.master_keys.items()}

"""Who signs an internal request: one credential per plane (docs/internal-api.md).

- `node`: the cluster secret, held by metadata and backend nodes only (load reports, replicas,
  moves, dead-letter forwarding, a backend verifying a frontend);
- `operator`: the operator secret, held by operators (`raftq admin`, `client.env`);
- `frontend.<id>`: one frontend's own secret, issued and revoked by an operator
  (`raftq admin frontends`) and kept sealed in the metadata group's replicated state.

A frontend's credential is written `ID:SECRET` in one file or variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

FRONTEND_ID_PATTERN: Final = r"RF[A-Z0-9]{18}"
FRONTEND_NAME_PATTERN: Final = r"[a-z0-9][a-z0-9-]{0,47}"
# Where a frontend reads its credential (frontend/main.py), named in the errors about it.
FRONTEND_CREDENTIAL_OPTION: Final = "--credential-file or RAFTQ_FRONTEND_CREDENTIAL"
OPERATOR_SECRET_OPTION: Final = "--operator-secret-file or RAFTQ_OPERATOR_SECRET"
_CREDENTIAL = re.compile(rf"({FRONTEND_ID_PATTERN}):([A-Za-z0-9_-]{{16,128}})")


class Role(StrEnum):
    NODE = "node"
    OPERATOR = "operator"
    FRONTEND = "frontend"


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    frontend_id: str | None = None

    @property
    def name(self) -> str:
        """As written in the signature header: `node`, `operator` or `frontend.<id>`."""
        if self.role is Role.FRONTEND:
            return f"frontend.{self.frontend_id}"
        return self.role.value

    @classmethod
    def parse(cls, name: str) -> Caller | None:
        if name in (Role.NODE.value, Role.OPERATOR.value):
            return cls(Role(name))
        prefix = "frontend."
        if name.startswith(prefix) and re.fullmatch(FRONTEND_ID_PATTERN, name[len(prefix) :]):
            return cls(Role.FRONTEND, name[len(prefix) :])
        return None


NODE: Final = Caller(Role.NODE)
OPERATOR: Final = Caller(Role.OPERATOR)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a caller signs with: who it is and its secret."""

    caller: Caller
    secret: bytes


def frontend_credential(text: str) -> Credential:
    """`ID:SECRET` as `raftq admin frontends create` prints it; ValueError naming the option."""
    match = _CREDENTIAL.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"the frontend credential ({FRONTEND_CREDENTIAL_OPTION}) must be ID:SECRET as "
            "`raftq admin frontends create NAME` prints it"
        )
    return Credential(Caller(Role.FRONTEND, match.group(1)), match.group(2).encode())

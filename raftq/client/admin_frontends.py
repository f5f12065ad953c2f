"""`raftq admin frontends create|revoke|list`: one credential per frontend (docs/internal-api.md).

`create NAME` prints the credential, `ID:SECRET`, once: give it to that frontend
(`--credential-file`). With `--write FILE` it goes to FILE (owner only) instead of the screen,
and with `--if-missing` nothing is issued when FILE exists (a deployment's init step may run
again). `revoke NAME` refuses that frontend at once on the metadata leader, and on backends
within limits.FRONTEND_CREDENTIAL_CACHE_S; another frontend is not affected."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Protocol

from raftq.common.metadata_api import CreatedFrontend, CreateFrontendRequest, MetadataClient
from raftq.common.metadata_commands import RevokeFrontend


class Admin(Protocol):
    client: MetadataClient

    async def get(self, path: str) -> dict[str, Any]: ...

    async def command(self, command: Any) -> Any: ...


def add_frontend_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    frontends = areas.add_parser("frontends").add_subparsers(dest="verb", required=True)
    create = frontends.add_parser("create", help="issue a frontend's credential (shown once)")
    create.add_argument("name", help="lowercase letters, digits and -, up to 48")
    create.add_argument("--write", type=Path, help="write the credential to this file")
    create.add_argument(
        "--if-missing", action="store_true", help="with --write: do nothing if the file exists"
    )
    revoke = frontends.add_parser("revoke", help="refuse this frontend from now on")
    revoke.add_argument("name", help="the frontend's name")
    frontends.add_parser("list")


def write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")


async def run_frontends(admin: Admin, args: argparse.Namespace, verb: str, actor: str) -> Any:
    if verb == "list":
        return (await admin.get("/v1/catalogue")).get("frontends", [])
    if verb == "revoke":
        await admin.command(RevokeFrontend(now_ms=0, actor=actor, name=args.name))
        return {"name": args.name, "revoked": True}
    written: Path | None = args.write
    if written is not None and args.if_missing and written.exists():
        return {"name": args.name, "credential_file": str(written), "issued": False}
    created: CreatedFrontend = await admin.client.create_frontend(
        CreateFrontendRequest(actor=actor, name=args.name)
    )
    if written is None:
        return {"frontend_id": created.frontend_id, "name": created.name,
                "credential": created.credential}  # fmt: skip
    write_private(written, created.credential)
    return {"frontend_id": created.frontend_id, "name": created.name,
            "credential_file": str(written), "issued": True}  # fmt: skip

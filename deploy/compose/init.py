"""The compose deployment's one-shot `credentials` and `init` services: what `raftq up` does.

`init.py frontends NAME...` (the `credentials` service, before the frontends start): for each
frontend without a credential file yet (/out/NAME/credential, in a volume only that frontend
mounts), issue its credential (`raftq admin frontends create NAME`, retried until the metadata
group has a leader) and write it there, owned by the frontends' user (RAFTQ_FRONTEND_UID, 10001)
and readable by it only. A frontend whose file exists keeps it.

`init.py` (the `init` service, once everything is healthy):

1. Wait until every backend cluster of RAFTQ_CLUSTERS is registered with the metadata group and
   all its members report to it. (Backends register their own cluster when started with
   `--metadata`; nothing here registers them.)
2. The first time only (no root.json in this service's volume): make the principal `root`, grant
   it every action on every queue, and create an access key for it. The secret is shown once by
   the metadata group, so it is kept in root.json (mode 0600, in the `init` named volume; `down
   -v` forgets it together with the catalogue).
3. Write /out/client.env (shell-sourceable, mode 0600, owned by the owner of the host directory
   mounted at /out): the public endpoint and the root credentials, as RAFTQ_* and the AWS_*
   names boto3 and the AWS CLI read.

Only `raftq admin` is used (the public admin interface), with the operator secret from
/run/secrets (never the cluster secret, which only nodes hold), over TLS to the metadata nodes,
whose certificates it verifies against the deployment's CA (/run/secrets/tls_ca.crt). Exit
status 0 when its work is done (client.env written, or the credentials issued); 1 otherwise,
saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SECRET_FILE = "/run/secrets/operator_secret"
CA_FILE = "/run/secrets/tls_ca.crt"
ROOT_FILE = Path("/var/lib/raftq/root.json")
OUT_DIR = Path("/out")
READY_TIMEOUT_S = 180.0
ACTOR = "compose-init"


def admin(*args: str) -> subprocess.CompletedProcess[str]:
    argv = ["raftq", "admin", "--json", "--operator-secret-file", SECRET_FILE]
    argv += ["--tls-ca-file", CA_FILE]
    argv += ["--actor", ACTOR, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def admin_json(*args: str) -> Any:
    """`raftq admin --json ARGS`: the JSON it printed."""
    done = admin(*args)
    if done.returncode != 0:
        raise RuntimeError(f"raftq admin {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def wait_for_clusters(cluster_ids: list[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            rows = admin_json("clusters", "list")
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
            last = str(error)
        else:
            by_id = {row["cluster_id"]: row for row in rows}
            waiting = [
                c
                for c in cluster_ids
                if c not in by_id or by_id[c]["reporting"] < by_id[c]["members"]
            ]
            if not waiting:
                print(f"init: clusters {', '.join(cluster_ids)} registered, every member reporting")
                return
            last = f"waiting for {', '.join(waiting)}: {json.dumps(rows)}"
        time.sleep(1)
    raise RuntimeError(f"the clusters were not ready within {READY_TIMEOUT_S:g} s ({last})")


def root_credentials() -> dict[str, str]:
    if ROOT_FILE.exists():
        stored: dict[str, str] = json.loads(ROOT_FILE.read_text())
        print(f"init: root access key {stored['key_id']} exists already")
        return stored
    made = admin("principals", "create", "root")
    if made.returncode != 0 and "exist" not in made.stderr:
        raise RuntimeError(f"raftq admin principals create root: {made.stderr.strip()}")
    admin_json("grants", "add", "root", "*", "send", "receive", "delete", "admin")
    created = admin_json("keys", "create", "root")
    assert isinstance(created, dict)
    credentials = {"key_id": str(created["key_id"]), "secret": str(created["secret"])}
    write_private(ROOT_FILE, json.dumps(credentials) + "\n", owner=None)
    key_id = credentials["key_id"]
    print(f"init: made principal root (every action on every queue), access key {key_id}")
    return credentials


def write_private(path: Path, text: str, owner: tuple[int, int] | None) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    if owner is not None:
        os.chown(temporary, *owner)
    os.replace(temporary, path)


def issue_frontend_credentials(names: list[str]) -> None:
    owner = int(os.environ.get("RAFTQ_FRONTEND_UID", "10001"))
    for name in names:
        path = OUT_DIR / name / "credential"
        if path.exists():
            print(f"init: frontend {name} has its credential already")
            continue
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                created = admin_json("frontends", "create", name)
                break
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no credential for {name}: {error}") from None
                time.sleep(1)
        write_private(path, str(created["credential"]) + "\n", owner=(owner, owner))
        print(f"init: issued frontend {name} its credential {created['frontend_id']}")


def main() -> int:
    if sys.argv[1:2] == ["frontends"]:
        try:
            issue_frontend_credentials(sys.argv[2:])
        except (RuntimeError, OSError) as error:
            print(f"init: {error}", file=sys.stderr)
            return 1
        return 0
    clusters = [c for c in os.environ.get("RAFTQ_CLUSTERS", "c1").split(",") if c]
    endpoint = os.environ.get("RAFTQ_PUBLIC_ENDPOINT", "http://127.0.0.1:8080")
    try:
        wait_for_clusters(clusters)
        root = root_credentials()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"init: {error}", file=sys.stderr)
        return 1
    lines = [
        "# raftq in docker compose: the load balancer's endpoint and the root access key.",
        f"export RAFTQ_ENDPOINT={endpoint}",
        f"export RAFTQ_ACCESS_KEY_ID={root['key_id']}",
        f"export RAFTQ_SECRET_ACCESS_KEY={root['secret']}",
        f"export AWS_ENDPOINT_URL_SQS={endpoint}",
        f"export AWS_ACCESS_KEY_ID={root['key_id']}",
        f"export AWS_SECRET_ACCESS_KEY={root['secret']}",
        "export AWS_DEFAULT_REGION=us-east-1",
    ]
    out = OUT_DIR.stat()
    write_private(OUT_DIR / "client.env", "\n".join(lines) + "\n", owner=(out.st_uid, out.st_gid))
    print(f"init: wrote client.env for {endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

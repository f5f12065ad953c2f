"""The compose deployment gives each secret only to the services of its plane: the raft secret to
the metadata and backend members (and reads it there), never to a frontend, init or the load
balancer; and `raftq-compose secrets` makes every secret file the compose file mounts.

TLS on the nodes' API ports: each metadata and backend node mounts its own certificate and key
(and no other's) and serves with them, every service that calls a node (nodes, frontends, init,
the health checks, `raftq-compose admin`) verifies against the deployment's CA, whose key is
mounted nowhere; the certificates `raftq-compose secrets` makes (with openssl) name each
service and pass a real handshake verified as the clients verify."""

from __future__ import annotations

import importlib.util
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from raftq.common.internal_tls import client_context, server_context

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "deploy" / "compose"
RAFT_MEMBER_ROLES = {"metadata", "backend"}


def _services() -> dict[str, dict[str, Any]]:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _role(service: dict[str, Any]) -> str:
    return str(service["labels"]["org.raftq.role"])


@pytest.mark.parametrize("name", sorted(_services()))
def test_the_raft_secret_is_mounted_and_read_on_raft_members_only(name: str) -> None:
    service = _services()[name]
    mounted = service.get("secrets", [])
    command = str(service.get("command", ""))
    if _role(service) in RAFT_MEMBER_ROLES:
        assert "raft_secret" in mounted
        assert "--raft-secret-file /run/secrets/raft_secret" in command
        assert "cluster_secret" in mounted  # still signs the internal HTTP requests
    else:
        assert "raft_secret" not in mounted
        assert "--raft-secret-file" not in command and "raft_secret" not in command


def test_every_role_of_the_deployment_is_checked() -> None:
    roles = {_role(service) for service in _services().values()}
    assert roles == {"metadata", "backend", "frontend", "lb", "init", "monitoring"}


CA = "/run/secrets/tls_ca.crt"


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    return compose


@pytest.mark.parametrize("name", sorted(_services()))
def test_nodes_serve_tls_with_their_own_certificate_and_callers_verify_with_the_ca(
    name: str,
) -> None:
    service = _services()[name]
    mounted = set(service.get("secrets", []))
    command = " ".join(str(service.get("command", "")).split())
    environment = service.get("environment", {})
    keys = {secret for secret in mounted if secret.endswith(".key")}
    assert "tls_ca.key" not in mounted
    if _role(service) in RAFT_MEMBER_ROLES:
        assert {"tls_ca.crt", f"{name}.tls.crt", f"{name}.tls.key"} <= mounted
        assert keys == {f"{name}.tls.key"}  # its own key, no other's
        assert (
            f"--tls-cert-file /run/secrets/{name}.tls.crt "
            f"--tls-key-file /run/secrets/{name}.tls.key --tls-ca-file {CA}"
        ) in command
        assert environment["RAFTQ_HEALTHCHECK_URL"] == f"https://{name}:8000/healthz"
        assert environment["RAFTQ_TLS_CA_FILE"] == CA
    elif _role(service) == "frontend":
        assert "tls_ca.crt" in mounted and not keys
        assert f"--tls-ca-file {CA}" in command and "--tls-cert-file" not in command
        assert environment["RAFTQ_HEALTHCHECK_URL"].startswith("http://127.0.0.1:")  # public
    elif _role(service) == "init":
        assert "tls_ca.crt" in mounted and not keys
    elif _role(service) == "monitoring":  # Prometheus scrapes the nodes over TLS: the CA only
        assert mounted == {"tls_ca.crt"}
    else:
        assert not any("tls" in secret for secret in mounted)


def test_init_and_raftq_compose_admin_call_the_metadata_nodes_with_the_ca() -> None:
    spec = importlib.util.spec_from_file_location("compose_init", COMPOSE_DIR / "init.py")
    assert spec is not None and spec.loader is not None
    init = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(init)
    assert init.CA_FILE == CA
    script = (COMPOSE_DIR / "raftq-compose").read_text()
    assert f"--tls-ca-file {CA}" in script


def _handshake(ca_file: Path, cert_file: Path, key_file: Path, host: str) -> None:
    """A TLS handshake in memory: the server with the node's files, the client verifying as
    raftq's clients do (internal_tls.client_context), dialling `host`."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context(cert_file, key_file).wrap_bio(to_server, to_client, server_side=True)
    client = client_context(ca_file).wrap_bio(to_client, to_server, server_hostname=host)
    finished: set[str] = set()
    for _ in range(10):
        for name, side in (("client", client), ("server", server)):
            if name not in finished:
                try:
                    side.do_handshake()
                    finished.add(name)
                except ssl.SSLWantReadError:
                    pass
        if len(finished) == 2:
            return
    raise AssertionError("the handshake did not finish")


@pytest.fixture(scope="module")
def made_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`raftq-compose secrets` run in a copy of the compose directory (needs openssl, not
    Docker); its secrets/ directory."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_DIR / "raftq-compose", directory / "raftq-compose")
    done = subprocess.run(
        [str(directory / "raftq-compose"), "secrets"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tls_ca" in done.stdout
    return directory / "secrets"


def test_raftq_compose_makes_every_secret_file_the_compose_file_mounts(made_secrets: Path) -> None:
    files = {Path(spec["file"]).name for spec in _compose()["secrets"].values()}
    assert {"raft_secret", "tls_ca.crt", "c2-c.tls.key"} <= files
    for name in files:
        assert (made_secrets / name).stat().st_size > 0, name
    ca_key = made_secrets / "tls_ca.key"
    assert ca_key.name not in files and stat.S_IMODE(ca_key.stat().st_mode) == 0o400


@pytest.mark.parametrize(
    "name",
    sorted(n for n, s in _services().items() if _role(s) in RAFT_MEMBER_ROLES),
)
def test_each_node_certificate_passes_a_handshake_verified_by_its_service_name(
    made_secrets: Path, name: str
) -> None:
    ca = made_secrets / "tls_ca.crt"
    cert, key = made_secrets / f"{name}.tls.crt", made_secrets / f"{name}.tls.key"
    _handshake(ca, cert, key, name)
    other = "c1-a" if name != "c1-a" else "c1-b"
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(ca, cert, key, other)  # a node cannot pass for another


def test_secrets_again_keeps_the_certificates_and_remakes_only_a_missing_one(
    made_secrets: Path,
) -> None:
    before = {p.name: p.read_bytes() for p in made_secrets.iterdir()}
    (made_secrets / "c1-b.tls.crt").unlink()
    script = made_secrets.parent / "raftq-compose"
    done = subprocess.run(
        [str(script), "secrets"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    after = {p.name: p.read_bytes() for p in made_secrets.iterdir()}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"c1-b.tls.crt", "c1-b.tls.key"}
    _handshake(made_secrets / "tls_ca.crt", made_secrets / "c1-b.tls.crt",
               made_secrets / "c1-b.tls.key", "c1-b")  # fmt: skip


@pytest.mark.parametrize("name", sorted(_services()))
def test_each_plane_holds_its_own_credential_and_no_other(name: str) -> None:
    # One credential per plane: nodes hold the cluster secret and check the operator secret;
    # the one-shot operators (credentials, init) hold the operator secret only; a frontend
    # holds its own credential, from a volume no other frontend mounts, and no shared secret.
    service = _services()[name]
    mounted = set(service.get("secrets", []))
    command = " ".join(str(service.get("command", "")).split())
    volumes = [str(v) for v in service.get("volumes", [])]
    role = _role(service)
    assert "channel_secret" not in mounted and "--channel-secret-file" not in command
    if role in RAFT_MEMBER_ROLES:
        assert {"cluster_secret", "operator_secret"} <= mounted
        assert "--operator-secret-file /run/secrets/operator_secret" in command
    elif role == "frontend":
        assert not mounted & {"cluster_secret", "operator_secret", "raft_secret"}
        assert "--secret-file" not in command
        assert "--credential-file /run/raftq-credential/credential" in command
        assert volumes == [f"{name}-credential:/run/raftq-credential:ro"]
        depends = service["depends_on"]
        assert depends["credentials"] == {"condition": "service_completed_successfully"}
    elif role == "init":
        assert mounted == {"operator_secret", "tls_ca.crt"}
    else:
        assert not mounted & {"cluster_secret", "operator_secret", "raft_secret"}


def test_the_credentials_service_issues_one_credential_per_frontend_into_its_volume() -> None:
    services = _services()
    frontends = sorted(n for n, s in services.items() if _role(s) == "frontend")
    credentials = services["credentials"]
    assert credentials["entrypoint"][-len(frontends) :] == frontends
    for frontend in frontends:
        assert f"{frontend}-credential:/out/{frontend}" in credentials["volumes"]
        assert f"{frontend}-credential" in _compose()["volumes"]

"""`raftq backend` and `raftq metadata` take the raft secret (`--raft-secret-file` or
RAFTQ_RAFT_SECRET) for Raft alone, refuse to start without one of their own, and `raftq frontend`
has no way to be given it. Nodes take TLS files all three or none, and refuse to start on one
they cannot load."""

from __future__ import annotations

from pathlib import Path

import pytest

import raftq.backend.main
import raftq.metadata.main
from raftq.client.cli import main
from raftq.common.internal_tls import InternalTls
from raftq.common.settings import BackendNodeSettings, NodeSettings
from tests.tls_certs import NodeCertificate, TestCa

CLUSTER_SECRET = "cluster-secret-of-the-tests"
RAFT_SECRET = "raft-secret-of-the-tests"
MEMBER = "n1,a,127.0.0.1:7001,127.0.0.1:8001"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[NodeSettings]:
    """The settings each node command would have run with (nothing is started)."""
    runs: list[NodeSettings] = []
    monkeypatch.setattr(raftq.backend.main, "run", runs.append)
    monkeypatch.setattr(raftq.metadata.main, "run", runs.append)
    monkeypatch.delenv("RAFTQ_CLUSTER_SECRET", raising=False)
    monkeypatch.delenv("RAFTQ_RAFT_SECRET", raising=False)
    return runs


def node_argv(kind: str, tmp_path: Path, *extra: str) -> list[str]:
    (tmp_path / "secret").write_text(CLUSTER_SECRET + "\n")
    return [
        kind,
        "--node-id",
        "n1",
        "--data-dir",
        str(tmp_path / "data"),
        "--member",
        MEMBER,
        "--secret-file",
        str(tmp_path / "secret"),
        *extra,
    ]


@pytest.mark.parametrize("kind", ["backend", "metadata"])
def test_the_raft_secret_file_keys_raft_and_the_cluster_secret_the_http_api(
    kind: str, tmp_path: Path, started: list[NodeSettings]
) -> None:
    # Given a raft secret file next to the cluster secret
    (tmp_path / "raft.secret").write_text(RAFT_SECRET + "\n")
    # When a node starts with both
    assert main(node_argv(kind, tmp_path, "--raft-secret-file", str(tmp_path / "raft.secret"))) == 0
    # Then Raft is keyed by the raft secret and the internal API by the cluster secret
    (settings,) = started
    raft_secret = settings.raft.raft_secret
    assert raft_secret is not None and raft_secret.get_secret_value() == RAFT_SECRET
    cluster_secret = settings.cluster_secret
    assert cluster_secret is not None and cluster_secret.get_secret_value() == CLUSTER_SECRET


def test_the_raft_secret_may_come_from_the_environment(
    tmp_path: Path, started: list[NodeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAFTQ_RAFT_SECRET", RAFT_SECRET)
    assert main(node_argv("metadata", tmp_path)) == 0
    raft_secret = started[0].raft.raft_secret
    assert raft_secret is not None and raft_secret.get_secret_value() == RAFT_SECRET


@pytest.mark.parametrize("kind", ["backend", "metadata"])
def test_a_node_without_a_raft_secret_does_not_start_and_names_the_option(
    kind: str, tmp_path: Path, started: list[NodeSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given only the cluster secret, which frontends hold too
    # When the node command runs, then it exits at once, saying what it needs
    with pytest.raises(SystemExit) as exit_info:
        main(node_argv(kind, tmp_path))
    assert exit_info.value.code == 2
    assert "--raft-secret-file or RAFTQ_RAFT_SECRET" in capsys.readouterr().err
    assert started == []


@pytest.mark.parametrize("kind", ["backend", "metadata"])
def test_a_node_without_a_cluster_secret_names_the_flag_and_the_variable(
    kind: str, tmp_path: Path, started: list[NodeSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "raft.secret").write_text(RAFT_SECRET)
    argv = node_argv(kind, tmp_path, "--raft-secret-file", str(tmp_path / "raft.secret"))
    argv[argv.index("--secret-file") : argv.index("--secret-file") + 2] = []
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    said = capsys.readouterr().err
    assert "a cluster secret is required (--secret-file or RAFTQ_CLUSTER_SECRET" in said
    assert "Value error" not in said and "()" not in said
    assert started == []


def test_a_raft_secret_equal_to_the_cluster_secret_is_refused(
    tmp_path: Path, started: list[NodeSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "raft.secret").write_text(CLUSTER_SECRET)
    with pytest.raises(SystemExit):
        main(node_argv("backend", tmp_path, "--raft-secret-file", str(tmp_path / "raft.secret")))
    assert "must differ from the cluster secret" in capsys.readouterr().err
    assert started == []


def test_a_frontend_has_no_raft_secret_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["frontend", "--listen", "127.0.0.1:8080", "--metadata", "127.0.0.1:8001"]
    argv += ["--master-key", f"k1={tmp_path / 'key'}", "--raft-secret-file", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --raft-secret-file" in capsys.readouterr().err


# --- TLS on the API port (common/internal_tls.py) ------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestCa, NodeCertificate]:
    ca = TestCa(tmp_path_factory.mktemp("pki"))
    return ca, ca.issue("127.0.0.1")


def tls_argv(pki: tuple[TestCa, NodeCertificate], tmp_path: Path) -> list[str]:
    ca, node = pki
    (tmp_path / "raft.secret").write_text(RAFT_SECRET)
    return [
        "--raft-secret-file",
        str(tmp_path / "raft.secret"),
        "--tls-cert-file",
        str(node.cert_file),
        "--tls-key-file",
        str(node.key_file),
        "--tls-ca-file",
        str(ca.cert_file),
    ]


@pytest.mark.parametrize("kind", ["backend", "metadata"])
def test_a_node_given_a_certificate_key_and_ca_runs_with_tls(
    kind: str, tmp_path: Path, started: list[NodeSettings], pki: tuple[TestCa, NodeCertificate]
) -> None:
    assert main(node_argv(kind, tmp_path, *tls_argv(pki, tmp_path))) == 0
    (settings,) = started
    ca, node = pki
    assert settings.tls == InternalTls(
        cert_file=node.cert_file, key_file=node.key_file, ca_file=ca.cert_file
    )


@pytest.mark.parametrize(
    "left_out_and_named",
    [("--tls-ca-file", "also needs --tls-ca-file"), ("--tls-key-file", "both --tls-cert-file")],
)
def test_a_node_missing_a_tls_option_does_not_start_and_names_it(
    left_out_and_named: tuple[str, str],
    tmp_path: Path,
    started: list[NodeSettings],
    pki: tuple[TestCa, NodeCertificate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    left_out, named = left_out_and_named
    argv = tls_argv(pki, tmp_path)
    at = argv.index(left_out)
    del argv[at : at + 2]
    with pytest.raises(SystemExit) as exit_info:
        main(node_argv("backend", tmp_path, *argv))
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
    assert started == []


def test_a_node_whose_key_does_not_load_does_not_start(
    tmp_path: Path,
    started: list[NodeSettings],
    pki: tuple[TestCa, NodeCertificate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = tls_argv(pki, tmp_path)
    argv[argv.index("--tls-key-file") + 1] = str(tmp_path / "missing.key")
    with pytest.raises(SystemExit) as exit_info:
        main(node_argv("metadata", tmp_path, *argv))
    assert exit_info.value.code == 2
    assert "cannot load the TLS certificate" in capsys.readouterr().err
    assert started == []


def test_admin_refuses_a_ca_file_it_cannot_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given RAFTQ_TLS_CA_FILE naming a file that is not there (the option would say the same)
    monkeypatch.setenv("RAFTQ_TLS_CA_FILE", str(tmp_path / "missing-ca.pem"))
    # When an admin command runs, then it stops before calling anyone, naming the file
    assert main(["admin", "--metadata", "127.0.0.1:1", "clusters", "list"]) == 2
    assert f"--tls-ca-file {tmp_path / 'missing-ca.pem'}" in capsys.readouterr().err


def test_a_backend_takes_its_budget_of_due_transitions_from_the_option(
    tmp_path: Path, started: list[NodeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAFTQ_RAFT_SECRET", RAFT_SECRET)
    assert main(node_argv("backend", tmp_path, "--due-transitions-per-entry", "5000")) == 0
    (settings,) = started
    assert isinstance(settings, BackendNodeSettings)
    assert settings.due_transitions_per_entry == 5000


def test_a_backend_refuses_a_budget_of_no_due_transitions_naming_it(
    tmp_path: Path,
    started: list[NodeSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAFTQ_RAFT_SECRET", RAFT_SECRET)
    with pytest.raises(SystemExit) as exit_info:
        main(node_argv("backend", tmp_path, "--due-transitions-per-entry", "0"))
    assert exit_info.value.code == 2
    assert "due_transitions_per_entry" in capsys.readouterr().err
    assert started == []

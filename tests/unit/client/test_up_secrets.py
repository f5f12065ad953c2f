"""`raftq up`'s secrets: the raft secret is made once (owner only, also in data made before it
existed), given to the metadata and backend members only, and never written to client.env, which
a laptop or a frontend holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raftq.client.up import _announce, _layout, children

HOST, BASE_PORT = "127.0.0.1", 7700


def test_the_first_start_makes_a_raft_secret_of_its_own_for_the_owner_only(tmp_path: Path) -> None:
    # When `raftq up` lays out a new data dir
    _layout(tmp_path, HOST, BASE_PORT)
    # Then the raft secret is there, readable by the owner only, and unlike the other secrets
    raft_secret = tmp_path / "raft.secret"
    assert raft_secret.stat().st_mode & 0o077 == 0
    value = raft_secret.read_text().strip()
    assert len(value) >= 16
    others = {(tmp_path / name).read_text().strip() for name in ("secret", "operator.secret")}
    assert value not in others


def test_data_made_before_the_raft_secret_gets_one_and_keeps_it(tmp_path: Path) -> None:
    # Given a data dir made before Raft had its own secret
    _layout(tmp_path, HOST, BASE_PORT)
    (tmp_path / "raft.secret").unlink()
    # When `raftq up` starts on it twice
    _layout(tmp_path, HOST, BASE_PORT)
    made = (tmp_path / "raft.secret").read_text()
    _layout(tmp_path, HOST, BASE_PORT)
    # Then it made a raft secret the first time and kept it the second
    assert (tmp_path / "raft.secret").read_text() == made


def test_only_the_raft_members_are_given_the_raft_secret(tmp_path: Path) -> None:
    layout = _layout(tmp_path, HOST, BASE_PORT)
    specs = {spec.name: spec.argv for spec in children(tmp_path, layout)}
    raft_secret_file = str(tmp_path / "raft.secret")
    for name, argv in specs.items():
        if name == "frontend":
            assert raft_secret_file not in argv and "--raft-secret-file" not in argv
        else:
            assert argv[argv.index("--raft-secret-file") + 1] == raft_secret_file, name
    assert len(specs) == 7  # 3 metadata, 3 backend, the frontend


def test_the_frontend_gets_its_own_credential_and_no_node_or_operator_secret(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path, HOST, BASE_PORT)
    specs = {spec.name: spec.argv for spec in children(tmp_path, layout)}
    frontend = specs.pop("frontend")
    assert frontend[frontend.index("--credential-file") + 1] == str(
        tmp_path / "frontend.credential"
    )
    for flag in ("--secret-file", "--operator-secret-file", "--raft-secret-file"):
        assert flag not in frontend
    for name, argv in specs.items():  # the nodes check operators' requests
        assert argv[argv.index("--operator-secret-file") + 1] == str(
            tmp_path / "operator.secret"
        ), name
    secrets = {(tmp_path / n).read_text() for n in ("secret", "raft.secret", "operator.secret")}
    assert len(secrets) == 3


def test_client_env_carries_the_operator_secret_but_never_a_node_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a laid-out data dir whose root key exists
    layout = _layout(tmp_path, HOST, BASE_PORT)
    (tmp_path / "root.json").write_text(json.dumps({"key_id": "AKID", "secret": "root-secret"}))
    # When `raftq up` announces it is ready
    _announce(tmp_path, layout)
    capsys.readouterr()
    # Then client.env has what `raftq admin` needs, and nothing that can talk Raft
    client_env = (tmp_path / "client.env").read_text()
    operator_secret = (tmp_path / "operator.secret").read_text().strip()
    assert f"export RAFTQ_OPERATOR_SECRET={operator_secret}\n" in client_env
    assert (tmp_path / "raft.secret").read_text().strip() not in client_env
    assert (tmp_path / "secret").read_text().strip() not in client_env
    assert "CLUSTER_SECRET" not in client_env
    assert "RAFT_SECRET" not in client_env

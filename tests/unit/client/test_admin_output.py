"""What `raftq admin` prints for people, from the values `--json` prints for scripts."""

from __future__ import annotations

import argparse
from typing import Any

from raftq.client import admin_output
from raftq.client.admin import add_admin_command
from raftq.client.admin_schedules import schedule_fields, schedule_table

QUEUE: dict[str, Any] = {
    "queue_id": "q-0ad4e5f6a7b8c9d0",
    "name": "orders-1",
    "owner": "admin",
    "fifo": False,
    "attributes": {
        "visibility_timeout_ms": 60_000,
        "retention_ms": 345_600_000,
        "delay_ms": 0,
        "max_message_bytes": 1_048_576,
        "receive_wait_ms": 0,
        "dedup_window_ms": 300_000,
        "content_based_dedup": False,
        "status_retention_ms": 86_400_000,
        "redrive": {"dead_letter_queue": "orders-dlq", "max_receive_count": 5},
    },
    "placement": {"cluster_id": "c1", "epoch": 2},
    "lifecycle": "active",
    "move_target": None,
    "created_at_ms": 1_796_412_602_000,
    "data_keys": [],
    "tags": {"team": "shop"},
    "redrive_allow": None,
}
QUEUE_ROW = {"name": "orders-1", "queue_id": "q-0ad4e5f6a7b8c9d0", "lifecycle": "active",
             "cluster": "c1", "epoch": 1, "fifo": False, "owner": "admin"}  # fmt: skip


def args_of(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_admin_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["admin", *argv])


def admin_commands() -> list[tuple[str, str]]:
    """Every (area, verb) of `raftq admin`, from its parser."""
    parser = argparse.ArgumentParser()
    add_admin_command(parser.add_subparsers(dest="command"))
    admin = _choices(parser)["admin"]
    found = []
    for area, area_parser in _choices(admin).items():
        verbs = _choices(area_parser)
        found += [(area, verb) for verb in verbs] if verbs else [(area, "")]
    return found


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_admin_command_has_a_human_output() -> None:
    commands = admin_commands()
    assert ("keys", "list") in commands and ("audit", "") in commands
    # Schedules go through the REST API and print their own (admin_schedules.py)
    missing = [c for c in commands if c[0] != "schedules" and c not in admin_output._RENDERERS]
    assert missing == []


def test_a_queue_is_shown_with_durations_in_seconds_and_times_in_utc() -> None:
    text = admin_output.render(args_of("queues", "show", "orders-1"), QUEUE)
    lines = dict(line.split("  ", 1) for line in text.splitlines())
    assert lines["visibility timeout"].strip() == "60 s"
    assert lines["retention"].strip() == "345600 s (4 d)"
    assert lines["created"].strip() == "2026-12-04 19:30:02Z"
    assert lines["dead-letter queue"].strip() == "orders-dlq after 5 receives"
    assert lines["cluster"].strip() == "c1 (placement epoch 2)"
    assert lines["tags"].strip() == "team=shop"
    assert "{" not in text and "[" not in text and "_ms" not in text


def test_queues_list_is_a_table_and_an_empty_one_says_so() -> None:
    text = admin_output.render(args_of("queues", "list"), [QUEUE_ROW])
    assert text.splitlines() == [
        "NAME      TYPE      STATE   CLUSTER  EPOCH  OWNER",
        "orders-1  standard  active  c1           1  admin",
    ]
    assert admin_output.render(args_of("queues", "list"), []) == "no queues"


def test_keys_list_shows_state_and_times_never_a_secret() -> None:
    keys = [
        {"key_id": "RQAAAAAAAAAAAAAAAAAA", "principal_id": "app", "created_at_ms": 0,
         "revoked_at_ms": None, "state": "active"},
        {"key_id": "RQBBBBBBBBBBBBBBBBBB", "principal_id": "app", "created_at_ms": 0,
         "revoked_at_ms": 1_796_412_602_000, "state": "revoked"},
    ]  # fmt: skip
    text = admin_output.render(args_of("keys", "list"), keys)
    assert text.splitlines() == [
        "KEY ID                PRINCIPAL  CREATED               STATE",
        "RQAAAAAAAAAAAAAAAAAA  app        1970-01-01 00:00:00Z  active",
        "RQBBBBBBBBBBBBBBBBBB  app        1970-01-01 00:00:00Z  revoked 2026-12-04 19:30:02Z",
    ]
    assert admin_output.render(args_of("keys", "list"), []) == "no access keys"


def test_raft_status_shows_an_unreachable_node_with_dashes() -> None:
    rows = [
        {"group": "metadata", "node": "m1", "zone": "a", "role": "leader", "term": 3,
         "commit": 120, "applied": 120, "lag": 0},
        {"group": "c1", "node": "127.0.0.1:9", "role": "unreachable"},
    ]  # fmt: skip
    text = admin_output.render(args_of("raft", "status"), rows)
    assert text.splitlines() == [
        "GROUP     NODE         ZONE  ROLE         TERM  COMMIT  APPLIED  LAG",
        "metadata  m1           a     leader          3     120      120    0",
        "c1        127.0.0.1:9  -     unreachable     -       -        -    -",
    ]


def test_commands_that_change_something_say_what_in_a_sentence() -> None:
    render = admin_output.render
    assert render(args_of("queues", "create", "orders-1"), QUEUE_ROW) == (
        "created queue orders-1: active on cluster c1 (placement epoch 1)"
    )
    assert render(
        args_of("queues", "delete", "orders-1"), {"name": "orders-1", "deleted": True}
    ) == ("deleted queue orders-1")
    grant = {
        "principal_id": "app",
        "queues": "orders-*",
        "actions": ["send", "receive"],
        "label": None,
    }
    assert render(args_of("grants", "add", "app", "orders-*", "send", "receive"), grant) == (
        "granted app: send, receive on orders-*"
    )
    assert render(args_of("clusters", "drain", "c2", "--undo"), {}) == (
        "cluster c2 takes new queues again"
    )
    created = render(args_of("keys", "create", "app"), {"key_id": "RQK", "secret": "s3cr3t"})
    assert "s3cr3t" in created and "shown this once" in created
    rewrapped = {"rewrapped": 1, "current_master_key": "k2"}
    assert render(
        args_of("data-keys", "rewrap", "--master-key", "k2=f", "--current-master-key", "k2"),
        rewrapped,
    ) == ("1 data key rewrapped under master key k2")


def test_the_audit_trail_shows_readable_times() -> None:
    entries = [{"index": 7, "at_ms": 1_796_412_602_000, "actor": "admin",
                "action": "create_queue", "target": "orders-1"}]  # fmt: skip
    assert admin_output.render(args_of("audit"), entries).splitlines() == [
        "TIME                  INDEX  ACTOR  ACTION        TARGET",
        "2026-12-04 19:30:02Z      7  admin  create_queue  orders-1",
    ]


def test_schedules_read_as_a_table_and_as_fields() -> None:
    schedule = {"schedule_id": "s-1", "name": "nightly", "queue": "reports", "type": "report.build",
                "cron": "30 2 * * *", "every_s": None, "tz": "Europe/Paris", "priority": 0,
                "max_attempts": 5, "timeout_s": 300.0, "paused": False,
                "next_tick_ms": 1_796_412_602_000, "last_fired_tick_ms": None,
                "ticks_fired": 0, "owner": "app", "created_at_ms": 0}  # fmt: skip
    table = schedule_table([schedule, {**schedule, "name": "beat", "cron": None, "every_s": 60}])
    rows = [line.split("  ") for line in table.splitlines()[1:]]
    assert [[cell.strip() for cell in row if cell.strip()] for row in rows] == [
        ["nightly", "reports", "report.build", "cron 30 2 * * * (Europe/Paris)",
         "2026-12-04 19:30:02Z", "no", "0"],
        ["beat", "reports", "report.build", "every 60 s", "2026-12-04 19:30:02Z", "no", "0"],
    ]  # fmt: skip
    fields = schedule_fields(schedule)
    assert "task timeout  300 s" in fields and "last fired    -" in fields

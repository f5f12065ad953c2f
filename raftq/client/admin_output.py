"""What `raftq admin` prints for people: a table, a field list or one sentence per command.

The commands return the same values whether `--json` is given or not (admin.py); `--json` dumps
them as they are, for scripts, and `render` turns them into text here. Only this module decides
how they read: durations in seconds as the flags take them, instants in UTC (readable.py),
absent values as `-`, secrets only where the command exists to show one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from raftq.client.admin_backup import backed_up, restored
from raftq.client.readable import NONE, duration_s, plural, timestamp, yes_no
from raftq.client.tables import left, render_fields, render_table, right


def render(args: argparse.Namespace, output: Any) -> str:
    area, verb = str(args.area), str(getattr(args, "verb", ""))
    renderer = _RENDERERS.get((area, verb)) or _RENDERERS.get((area, ""))
    if renderer is None:  # every command has one (tests/unit/client/test_admin_output.py)
        raise KeyError(f"no human output for `raftq admin {area} {verb}`")
    return renderer(args, output)


# --- queues -------------------------------------------------------------------------------------


def queue_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no queues"
    columns = [left("NAME"), left("TYPE"), left("STATE"), left("CLUSTER"), right("EPOCH")]
    return render_table(
        [*columns, left("OWNER")],
        [
            [
                r["name"],
                "fifo" if r["fifo"] else "standard",
                r["lifecycle"],
                r["cluster"],
                str(r["epoch"]),
                r["owner"],
            ]
            for r in rows
        ],
    )


def _queues_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    return queue_table(output)


def _queue_created(args: argparse.Namespace, row: dict[str, Any]) -> str:
    kind = "FIFO queue" if row["fifo"] else "queue"
    return (
        f"created {kind} {row['name']}: {row['lifecycle']} on cluster {row['cluster']} "
        f"(placement epoch {row['epoch']})"
    )


def _queue_moved(args: argparse.Namespace, row: dict[str, Any]) -> str:
    if row["lifecycle"] == "moving":
        return f"queue {row['name']} is moving (started; `raftq admin queues show` follows it)"
    where = f"on cluster {row['cluster']} (placement epoch {row['epoch']})"
    return f"queue {row['name']} is {row['lifecycle']} {where}"


def queue_fields(queue: dict[str, Any]) -> str:
    attributes = queue["attributes"]
    placement = queue["placement"]
    fields = [
        ("name", queue["name"]),
        ("id", queue["queue_id"]),
        ("type", "fifo" if queue["fifo"] else "standard"),
        ("state", queue["lifecycle"]),
        ("cluster", f"{placement['cluster_id']} (placement epoch {placement['epoch']})"),
        ("moving to", queue.get("move_target") or NONE),
        ("owner", queue["owner"]),
        ("created", timestamp(queue["created_at_ms"])),
        ("visibility timeout", duration_s(attributes["visibility_timeout_ms"])),
        ("retention", duration_s(attributes["retention_ms"])),
        ("delay", duration_s(attributes["delay_ms"])),
        ("receive wait", duration_s(attributes["receive_wait_ms"])),
        ("dedup window", duration_s(attributes["dedup_window_ms"])),
        ("content-based dedup", "on" if attributes["content_based_dedup"] else "off"),
        ("max message size", f"{attributes['max_message_bytes']} bytes"),
        ("status retention", duration_s(attributes["status_retention_ms"])),
        ("dead-letter queue", _redrive(attributes.get("redrive"))),
        ("dead letters from", _redrive_allow(queue.get("redrive_allow"))),
        ("data keys", _data_keys(queue.get("data_keys", []))),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(queue.get("tags", {}).items())) or NONE),
    ]
    return render_fields(fields)


def _redrive(redrive: dict[str, Any] | None) -> str:
    if redrive is None:
        return NONE
    return f"{redrive['dead_letter_queue']} after {plural(redrive['max_receive_count'], 'receive')}"


def _data_keys(keys: list[dict[str, Any]]) -> str:
    """Versions and the master key wrapping each (never the key)."""
    return ", ".join(f"v{k['version']} (master key {k['master_key_id']})" for k in keys) or NONE


def _redrive_allow(allow: dict[str, Any] | None) -> str:
    if allow is None or allow["permission"] == "allowAll":
        return "any queue"
    if allow["permission"] == "denyAll":
        return "no queue"
    return ", ".join(allow["source_queues"])


def _queue_shown(args: argparse.Namespace, queue: dict[str, Any]) -> str:
    return queue_fields(queue)


def _queue_deleted(args: argparse.Namespace, output: dict[str, Any]) -> str:
    return f"deleted queue {output['name']}"


# --- clusters -----------------------------------------------------------------------------------


def _cluster_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no backend clusters"
    return render_table(
        [left("CLUSTER"), left("ZONES"), right("MEMBERS"), right("REPORTING"), left("DRAINING")],
        [
            [r["cluster_id"], r["zones"], str(r["members"]), str(r["reporting"]),
             yes_no(r["draining"])]
            for r in rows
        ],
    )  # fmt: skip


def _clusters_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    return _cluster_table(output)


def _cluster_shown(args: argparse.Namespace, cluster: dict[str, Any]) -> str:
    heading = render_fields(
        [("cluster", cluster["cluster_id"]), ("draining", yes_no(cluster["draining"]))]
    )
    reports = cluster.get("reports", {})
    members = render_table(
        [left("NODE"), left("ZONE"), left("RAFT"), left("API"), left("LAST REPORT"),
         right("QUEUES"), right("MESSAGES")],
        [
            [m["node_id"], m["zone"], m["raft_address"], m["api_address"],
             *_report_cells(reports.get(m["node_id"]))]
            for m in cluster["members"]
        ],
    )  # fmt: skip
    return f"{heading}\n\n{members}"


def _report_cells(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return ["never", NONE, NONE]
    return [timestamp(report["reported_at_ms"]), str(report["queues"]), str(report["messages"])]


def _drained(args: argparse.Namespace, output: Any) -> str:
    cluster_id = args.cluster_id
    if args.undo:
        return f"cluster {cluster_id} takes new queues again"
    if isinstance(output, list):
        moved = plural(len(output), "queue")
        return f"cluster {cluster_id} is draining; {moved} moved away:\n\n{queue_table(output)}"
    if args.no_wait:
        return f"cluster {cluster_id} is draining; its queues are moving away"
    return f"cluster {cluster_id} is draining; it held no queues"


# --- principals, keys, grants -------------------------------------------------------------------


def _principals_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    if not output:
        return "no principals"
    return render_table([left("PRINCIPAL")], [[row["principal_id"]] for row in output])


def _principal_changed(args: argparse.Namespace, output: dict[str, Any]) -> str:
    done = "created" if output["done"] == "create" else "deleted"
    return f"principal {output['principal_id']} {done}"


def _key_created(args: argparse.Namespace, output: dict[str, Any]) -> str:
    fields = render_fields(
        [("principal", args.principal_id), ("key id", output["key_id"]),
         ("secret", output["secret"])]
    )  # fmt: skip
    return f"{fields}\nThe secret is shown this once: keep it, it cannot be read back."


def _key_revoked(args: argparse.Namespace, output: dict[str, Any]) -> str:
    return f"access key {output['key_id']} revoked"


def keys_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no access keys"
    return render_table(
        [left("KEY ID"), left("PRINCIPAL"), left("CREATED"), left("STATE")],
        [
            [r["key_id"], r["principal_id"], timestamp(r["created_at_ms"]),
             _state(r.get("revoked_at_ms"))]
            for r in rows
        ],
    )  # fmt: skip


def _state(revoked_at_ms: int | None) -> str:
    return "active" if revoked_at_ms is None else f"revoked {timestamp(revoked_at_ms)}"


def _keys_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    return keys_table(output)


def _grants_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    if not output:
        return "no grants"
    return render_table(
        [left("PRINCIPAL"), left("QUEUES"), left("ACTIONS"), left("LABEL")],
        [
            [g["principal_id"], g["queues"], ", ".join(g["actions"]), g.get("label") or NONE]
            for g in output
        ],
    )


def _grant_added(args: argparse.Namespace, grant: dict[str, Any]) -> str:
    actions = ", ".join(grant["actions"])
    return f"granted {grant['principal_id']}: {actions} on {grant['queues']}"


def _grant_removed(args: argparse.Namespace, output: dict[str, Any]) -> str:
    return f"removed {output['principal_id']}'s grant on {output['queues']}"


# --- frontends ----------------------------------------------------------------------------------


def _frontends_list(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    if not output:
        return "no frontends"
    return render_table(
        [left("NAME"), left("FRONTEND ID"), left("CREATED"), left("STATE")],
        [
            [f["name"], f["frontend_id"], timestamp(f["created_at_ms"]),
             _state(f.get("revoked_at_ms"))]
            for f in output
        ],
    )  # fmt: skip


def _frontend_created(args: argparse.Namespace, output: dict[str, Any]) -> str:
    name = output["name"]
    if output.get("issued") is False:
        return f"{output['credential_file']} exists: no credential issued for frontend {name}"
    if "credential_file" in output:
        return (
            f"frontend {name} ({output['frontend_id']}): its credential is in "
            f"{output['credential_file']} (owner only)"
        )
    return (
        f"frontend {name} ({output['frontend_id']}): its credential, shown this once:\n"
        f"{output['credential']}"
    )


def _frontend_revoked(args: argparse.Namespace, output: dict[str, Any]) -> str:
    return f"frontend {output['name']} revoked"


# --- Raft, audit, data keys ---------------------------------------------------------------------


def _raft_status(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        return NONE if value is None else str(value)

    return render_table(
        [left("GROUP"), left("NODE"), left("ZONE"), left("ROLE"), right("TERM"),
         right("COMMIT"), right("APPLIED"), right("LAG")],
        [
            [row["group"], row["node"], cell(row, "zone"), row["role"], cell(row, "term"),
             cell(row, "commit"), cell(row, "applied"), cell(row, "lag")]
            for row in output
        ],
    )  # fmt: skip


def _members(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        return NONE if value is None else str(value)

    return render_table(
        [left("GROUP"), left("NODE"), left("ZONE"), left("RAFT ADDRESS"), left("API ADDRESS"),
         left("ROLE"), right("APPLIED")],
        [
            [row["group"], cell(row, "node_id"), cell(row, "zone"), row["raft_address"],
             cell(row, "api_address"), row["role"], cell(row, "applied")]
            for row in output
        ],
    )  # fmt: skip


def _stepped_down(args: argparse.Namespace, output: dict[str, Any]) -> str:
    if not output["was_leader"]:
        return f"{output['node']} does not lead: nothing to hand over"
    return f"{output['node']} handed leadership to {output['leader'] or 'another member'}"


def _audit(args: argparse.Namespace, output: list[dict[str, Any]]) -> str:
    if not output:
        return "the audit trail is empty"
    return render_table(
        [left("TIME"), right("INDEX"), left("ACTOR"), left("ACTION"), left("TARGET")],
        [
            [timestamp(e["at_ms"]), str(e["index"]), e["actor"], e["action"], e["target"]]
            for e in output
        ],
    )


def _rewrapped(args: argparse.Namespace, output: dict[str, Any]) -> str:
    keys = plural(output["rewrapped"], "data key")
    return f"{keys} rewrapped under master key {output['current_master_key']}"


_Renderer = Callable[[argparse.Namespace, Any], str]

_RENDERERS: dict[tuple[str, str], _Renderer] = {
    ("queues", "list"): _queues_list,
    ("queues", "show"): _queue_shown,
    ("queues", "create"): _queue_created,
    ("queues", "set"): _queue_shown,
    ("queues", "delete"): _queue_deleted,
    ("queues", "move"): _queue_moved,
    ("clusters", "list"): _clusters_list,
    ("clusters", "show"): _cluster_shown,
    ("clusters", "drain"): _drained,
    ("principals", "list"): _principals_list,
    ("principals", "create"): _principal_changed,
    ("principals", "delete"): _principal_changed,
    ("keys", "create"): _key_created,
    ("keys", "revoke"): _key_revoked,
    ("keys", "list"): _keys_list,
    ("grants", "list"): _grants_list,
    ("grants", "add"): _grant_added,
    ("grants", "remove"): _grant_removed,
    ("frontends", "list"): _frontends_list,
    ("frontends", "create"): _frontend_created,
    ("frontends", "revoke"): _frontend_revoked,
    ("raft", "status"): _raft_status,
    ("raft", "step-down"): _stepped_down,
    ("members", "list"): _members,
    ("members", "add"): _members,
    ("members", "remove"): _members,
    ("members", "replace"): _members,
    ("audit", ""): _audit,
    ("data-keys", "rewrap"): _rewrapped,
    ("backup", "queue"): backed_up,
    ("backup", "cluster"): backed_up,
    ("restore", ""): restored,
}

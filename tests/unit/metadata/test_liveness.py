"""The metadata leader's memory of backend reports: unchanged reports write nothing, health
follows what the leader heard, and a new leader starts from the replicated reports."""

from __future__ import annotations

from raftq.common.clock import FakeClock
from raftq.common.metadata_commands import ReportLoad
from raftq.common.metadata_models import Cluster, ClusterMember, NodeReport
from raftq.metadata.liveness import Liveness
from raftq.metadata.placement import HEALTH_WINDOW_MS, is_healthy

MEMBERS = tuple(
    ClusterMember(node_id=f"n{i}", zone=z, raft_address=f"h{i}:1", api_address=f"h{i}:2")
    for i, z in enumerate("abc")
)


class Term:
    """The term the node leads in (None: it follows)."""

    def __init__(self, term: int | None = 1) -> None:
        self.term = term

    def __call__(self) -> int | None:
        return self.term


def report(node_id: str, messages: int = 0, queues: int = 0) -> ReportLoad:
    return ReportLoad(
        now_ms=0, actor=node_id, cluster_id="c1", node_id=node_id, messages=messages, queues=queues
    )


def replicated(*node_ids: str, messages: int = 0) -> Cluster:
    reports = {n: NodeReport(reported_at_ms=1, messages=messages, queues=0) for n in node_ids}
    return Cluster(cluster_id="c1", members=MEMBERS, reports=reports)


def test_a_first_report_and_a_changed_load_are_proposed_and_an_unchanged_one_is_not() -> None:
    liveness = Liveness(FakeClock().now_ms, Term())
    assert liveness.heard(report("n0"), replicated())
    assert not liveness.heard(report("n0"), replicated("n0"))
    assert liveness.heard(report("n0", messages=5), replicated("n0"))


def test_reports_the_leader_cannot_judge_go_to_the_log_for_their_error_or_redirect() -> None:
    assert Liveness(FakeClock().now_ms, Term()).heard(report("n0"), None)  # no such cluster
    assert Liveness(FakeClock().now_ms, Term()).heard(report("n9"), replicated("n0"))  # no member
    assert Liveness(FakeClock().now_ms, Term(None)).heard(report("n0"), replicated("n0"))


def test_a_cluster_stays_healthy_on_unchanged_reports_and_turns_unhealthy_when_they_stop() -> None:
    # Given a leader that hears every member every 2 s, their load never changing
    clock = FakeClock()
    liveness = Liveness(clock.now_ms, Term())
    cluster = replicated("n0", "n1", "n2")
    for _ in range(20):
        for node_id in ("n0", "n1", "n2"):
            assert not liveness.heard(report(node_id), cluster)
        clock.advance(2_000)
    # Then the cluster is healthy long after its replicated reports were written
    assert is_healthy(liveness.view([cluster])[0], clock.now_ms())

    # When two members fall silent for longer than the health window
    clock.advance(HEALTH_WINDOW_MS - 2_000)
    liveness.heard(report("n0"), cluster)
    clock.advance(2_001)
    # Then a majority is stale: the cluster is unhealthy
    assert not is_healthy(liveness.view([cluster])[0], clock.now_ms())


def test_a_new_leader_counts_replicated_members_as_heard_when_it_took_up_its_term() -> None:
    # Given a node that led in term 1 and heard only n0, then lost leadership
    clock = FakeClock()
    term = Term(1)
    liveness = Liveness(clock.now_ms, term)
    cluster = replicated("n0", "n1")
    liveness.heard(report("n0"), cluster)
    term.term = None
    assert liveness.view([cluster])[0].reports == {}  # a follower judges nobody

    # When it leads again in term 3, long after
    clock.advance(60_000)
    term.term = 3
    # Then the members with a replicated report count as heard now (a majority: healthy) ...
    view = liveness.view([cluster])[0]
    assert set(view.reports) == {"n0", "n1"} and is_healthy(view, clock.now_ms())
    # ... until they stay silent a whole health window
    clock.advance(HEALTH_WINDOW_MS + 1)
    assert not is_healthy(liveness.view([cluster])[0], clock.now_ms())


def test_the_view_keeps_the_replicated_load_for_placement() -> None:
    liveness = Liveness(FakeClock().now_ms, Term())
    view = liveness.view([replicated("n0", messages=42)])[0]
    assert view.reports["n0"].messages == 42

"""A member looks a peer's name up again soon after a failed lookup.

Only the member with the greater address connects to a peer (pysyncobj's rule), and pysyncobj
believes a failed lookup for `dnsFailCacheTime`, 30 s by default. Docker's DNS has no name for a
stopped container, so a member that started while a peer was down did not connect to it for
30 s after the peer was back; with the leader killed in that window, the two live members of
three could not elect a leader (found by the chaos suite's kill-leader cell, docs/chaos.md).
These tests run pysyncobj's own resolver with the configuration a member gets, on a fake clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pysyncobj import dns_resolver
from pysyncobj.dns_resolver import DnsCachingResolver
from pysyncobj.syncobj import SyncObjConf

from raftq.common.settings import RaftSettings, RaftTimings
from raftq.raft.journal import DurableJournal
from raftq.raft.pysyncobj_wiring import pysyncobj_conf

PEER = "c1-a"
PEER_IP = "172.30.8.21"


class _Peer:
    """A peer's name that does not resolve while its container is stopped."""

    def __init__(self) -> None:
        self.stopped = True
        self.lookups = 0

    def getaddrinfo(self, host: str, port: object) -> list[tuple[Any, ...]]:
        self.lookups += 1
        if self.stopped or host != PEER:
            raise dns_resolver.socket.gaierror(-2, "Name or service not known")
        return [(dns_resolver.socket.AF_INET, 1, 6, "", (PEER_IP, 0))]


def _conf(tmp_path: Path, timings: RaftTimings) -> SyncObjConf:
    settings = RaftSettings(
        self_address="c1-c:7000",
        peers=("c1-a:7000", "c1-b:7000"),
        data_dir=tmp_path,
        insecure_development_mode=True,
        timings=timings,
    )
    journal = DurableJournal(tmp_path)
    try:
        return pysyncobj_conf(
            settings, journal, lambda _n, _d: None, lambda _n: (None, None, None), lambda: 0
        )
    finally:
        journal._destroy()


def _seconds_until_resolved(conf: SyncObjConf, monkeypatch: pytest.MonkeyPatch) -> float | None:
    """Look the peer up while it is stopped, start it, then look it up every 0.1 s of a fake
    clock: how long until the lookup gives its address (None: not within 60 s)."""
    now = [1_000.0]
    peer = _Peer()
    monkeypatch.setattr(dns_resolver, "monotonicTime", lambda: now[0])
    monkeypatch.setattr(dns_resolver.socket, "getaddrinfo", peer.getaddrinfo)
    resolver = DnsCachingResolver(conf.dnsCacheTime, conf.dnsFailCacheTime)
    assert resolver.resolve(PEER) is None
    peer.stopped = False
    started = now[0]
    while now[0] - started <= 60:
        if resolver.resolve(PEER) == PEER_IP:
            return now[0] - started
        now[0] += 0.1
    return None


def test_a_peer_that_was_down_at_start_is_reached_within_a_second_of_coming_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a member's configuration, and a peer whose name failed to resolve when it started
    conf = _conf(tmp_path, RaftTimings())
    # When the peer comes back
    took = _seconds_until_resolved(conf, monkeypatch)
    # Then its name resolves again within the configured second, well inside an election
    assert took is not None
    assert took <= RaftTimings().dns_fail_cache_s + 0.1 < RaftTimings().election_timeout_min_s + 0.2


def test_pysyncobjs_default_would_keep_the_peer_unreachable_for_thirty_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pysyncobj's default caches (what a member had before dns_fail_cache_s)
    conf = _conf(tmp_path, RaftTimings(dns_fail_cache_s=30.0, dns_cache_s=600.0))
    # When the peer comes back
    took = _seconds_until_resolved(conf, monkeypatch)
    # Then its name stays unresolved for 30 s: longer than any failover may take
    assert took is not None
    assert took > 30.0


def test_a_peer_rescheduled_under_its_name_with_a_new_address_is_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a member's configuration and a peer's name resolved once (a Kubernetes pod)
    conf = _conf(tmp_path, RaftTimings())
    now = [1_000.0]
    addresses = ["10.1.0.5"]
    monkeypatch.setattr(dns_resolver, "monotonicTime", lambda: now[0])
    monkeypatch.setattr(
        dns_resolver.socket,
        "getaddrinfo",
        lambda host, port: [(dns_resolver.socket.AF_INET, 1, 6, "", (addresses[0], 0))],
    )
    resolver = DnsCachingResolver(conf.dnsCacheTime, conf.dnsFailCacheTime)
    assert resolver.resolve(PEER) == "10.1.0.5"
    # When the pod is rescheduled and its name now gives another address
    addresses[0] = "10.1.3.9"
    started = now[0]
    while resolver.resolve(PEER) != "10.1.3.9":
        now[0] += 0.1
        assert now[0] - started < 60, "the new address was never looked up"
    # Then the new address is used within the configured cache time (pysyncobj's is 600 s)
    assert now[0] - started <= RaftTimings().dns_cache_s + 0.1

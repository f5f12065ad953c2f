"""Usage records: per access key and queue, requests, messages and bytes, as Prometheus metrics
and as an append-only log of JSON lines (one per request that touched a queue), for billing
and audits. The log is opened in append mode and each record is one `write` of one line, so
concurrent frontends may share a file on a local filesystem without interleaving lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Usage:
    def __init__(self, log_path: Path | None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "raftq_frontend_requests",
            "Requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "raftq_frontend_request_seconds",
            "Request latency by route",
            ["route"],
            registry=self.registry,
        )
        self.messages = Counter(
            "raftq_frontend_messages",
            "Messages by key, queue and action",
            ["key", "queue", "action"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "raftq_frontend_message_bytes",
            "Message bytes by key, queue and action",
            ["key", "queue", "action"],
            registry=self.registry,
        )
        self.joined = Counter(
            "raftq_frontend_joined_requests",
            "Requests that reached the backend joined with others in one command",
            registry=self.registry,
        )
        self._log: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8", buffering=1)

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def record(
        self,
        *,
        at_ms: int,
        key: str,
        principal: str,
        queue: str,
        action: str,
        messages: int,
        size: int,
    ) -> None:
        self.messages.labels(key, queue, action).inc(messages)
        self.bytes.labels(key, queue, action).inc(size)
        if self._log is not None:
            line = {
                "at_ms": at_ms,
                "key": key,
                "principal": principal,
                "queue": queue,
                "action": action,
                "messages": messages,
                "bytes": size,
            }
            self._log.write(json.dumps(line, sort_keys=True) + "\n")

    def render(self) -> bytes:
        rendered: bytes = generate_latest(self.registry)
        return rendered

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

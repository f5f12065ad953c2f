"""Usage records: per access key and queue, requests, messages and bytes, as Prometheus metrics
and as an append-only log of JSON lines (one per request that touched a queue), for billing
and audits. The log is opened in append mode and each record is one `write` of one line, so
concurrent frontends may share a file on a local filesystem without interleaving lines (with
rotation off: each frontend rotates by what it wrote, so rotating frontends need a file each).

Rotation by size (`max_bytes`, 0: never): once the file holds `max_bytes`, it is renamed to
`FILE.1` (an older `FILE.1` to `FILE.2`, …; the one past `backups` is dropped) and a new file is
started, so a long-running frontend keeps at most about (`backups` + 1) × `max_bytes` of log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from raftq.frontend.dashboard.rates import QueueRates


class _RotatingLines:
    """An append-only file of lines, renamed aside once it reaches `max_bytes` (0: never)."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self._path, self._max_bytes, self._backups = path, max_bytes, backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open()

    def _open(self) -> TextIO:
        file = self._path.open("a", encoding="utf-8", buffering=1)
        self._size = file.tell()
        return file

    def write(self, line: str) -> None:
        if self._max_bytes and self._size >= self._max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line.encode())

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self._backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{n}")
            if older.exists():
                os.replace(older, self._path.with_name(f"{self._path.name}.{n + 1}"))
        os.replace(self._path, self._path.with_name(f"{self._path.name}.1"))
        self._file = self._open()

    def close(self) -> None:
        self._file.close()


class Usage:
    def __init__(self, log_path: Path | None, *, max_bytes: int = 0, backups: int = 3) -> None:
        self.registry = CollectorRegistry()
        # `action`: a REST route ("POST /v1/queues/{name}/messages") or an SQS action
        # ("SendMessage"); never a string the client chose, so the label stays bounded.
        self.requests = Counter(
            "raftq_frontend_requests",
            "Requests answered, by API (rest, sqs), action and HTTP status",
            ["api", "action", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "raftq_frontend_request_seconds",
            "Time to answer a request, by API and action",
            ["api", "action"],
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
        self.undeliverable_messages = Counter(
            "raftq_frontend_undeliverable_messages",
            "Received messages that could not be opened, by queue (they stay in flight)",
            ["queue"],
            registry=self.registry,
        )
        # The dashboard's send / receive / delete rates, as this frontend counted them (bounded).
        self.rates = QueueRates()
        self._log: _RotatingLines | None = None
        if log_path is not None:
            self._log = _RotatingLines(log_path, max_bytes, backups)

    def undeliverable(self, queue: str, count: int) -> None:
        if count:
            self.undeliverable_messages.labels(queue).inc(count)

    def request(self, api: str, action: str, status: int, seconds: float) -> None:
        """One answered request of `api` ("rest" or "sqs")."""
        self.requests.labels(api, action, str(status)).inc()
        self.latency.labels(api, action).observe(seconds)

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
        self.rates.record(queue, action, messages, at_ms)
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

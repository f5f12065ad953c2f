"""What an action needs of the HTTP request besides its members: where the caller reached us,
so the queue URLs it gets back work from there."""

from __future__ import annotations

from dataclasses import dataclass

from raftq.frontend.sqs.names import queue_url


@dataclass(frozen=True)
class RequestContext:
    scheme: str
    host: str

    def queue_url(self, name: str) -> str:
        return queue_url(self.scheme, self.host, name)

"""Frames written in one turn of the event loop leave in one write (one system call).

Concurrent requests and answers each produce a small frame; writing each on its own costs a
system call apiece (on loopback, the receiver's network processing too), which profiles of the
frontend under load showed as its largest single cost. The frames are kept in order and flushed
at the end of the current loop turn, so nothing waits longer than the code already queued.
"""

from __future__ import annotations

import asyncio


class WriteCoalescer:
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes] = []

    def attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, frame: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(frame)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(b"".join(pending) if len(pending) > 1 else pending[0])

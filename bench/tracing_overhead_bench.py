"""What tracing adds to one send's path, off (the default) and on, in microseconds per send.

Measured in one process, without the network: the frontend's per-request work (the trace
context moved into attributes, the producer read, the send span and its binding into the call
context) and the leader's per-command work (the arrival taken at group commit). The whole
system's numbers (bench/frontend_bench.py) move by less than their own noise on a shared
machine; this isolates the added code.

Run: python -m bench.tracing_overhead_bench
"""

from __future__ import annotations

import timeit

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from bench import machine_info
from raftq.backend import leader_spans
from raftq.common import call_context, tracing
from raftq.frontend import message_tracing
from raftq.frontend import rest_models as m

ENTRY = m.SendBatchEntry(id="message", body="x" * 100)
RUNS = 20_000


def one_send() -> None:
    """The tracing steps `Frontend.send` and the leader take for one single-message send."""
    entries = message_tracing.carried("orders", [ENTRY])
    producers = [message_tracing.producer_of(e.attributes) for e in entries]
    with tracing.messaging_span(
        "send", "send", "orders", SpanKind.PRODUCER, parent=producers[0], links=producers
    ) as span:
        entries = message_tracing.stamped(span, entries)
        leader_spans.arrival("send")  # on the leader, in the channel handler's context
        call_context.current()


def per_send_us() -> float:
    return min(timeit.repeat(one_send, number=RUNS, repeat=5)) / RUNS * 1e6


def main() -> None:
    print(machine_info.describe())
    off = per_send_us()
    print(f"tracing off: {off:.2f} us per send")
    tracing.install(TracerProvider())  # spans made, none exported (no processor)
    try:
        on = per_send_us()
    finally:
        tracing.install(None)
    print(f"tracing on (spans made, not exported): {on:.2f} us per send")


if __name__ == "__main__":
    main()

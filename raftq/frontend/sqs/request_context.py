"""What an action needs of the HTTP request besides its members: where the caller reached us,
so the queue URLs it gets back work from there, and the X-Ray trace header SQS keeps with a
message sent without an AWSTraceHeader of its own (AWS SDKs and OpenTelemetry's botocore
instrumentation put it in `X-Amzn-Trace-Id`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from raftq.frontend.sqs.names import queue_url


@dataclass(frozen=True)
class RequestContext:
    scheme: str
    host: str
    # The X-Amzn-Trace-Id header when it is one the AWSTraceHeader attribute may hold; a header
    # that is not is ignored, as any other header would be.
    trace_header: str | None = None

    def queue_url(self, name: str) -> str:
        return queue_url(self.scheme, self.host, name)


# As rest_models.TraceHeader: 1 to 256 printable ASCII characters, no space.
_TRACE_HEADER = re.compile(r"[\x21-\x7e]{1,256}")


def trace_header_of(value: str | None) -> str | None:
    return value if value is not None and _TRACE_HEADER.fullmatch(value) else None

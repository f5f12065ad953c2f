#!/usr/bin/env python3
"""Docker HEALTHCHECK for a raftq node: exit 0 when RAFTQ_HEALTHCHECK_URL answers 200.

Every raftq node (metadata, backend, frontend) serves GET /healthz: 200 while it serves, 503 once
it refuses to go on (for example, corrupt state). Standard library only, a 2 s timeout.
"""

import os
import sys
import urllib.error
import urllib.request

url = os.environ.get("RAFTQ_HEALTHCHECK_URL", "http://127.0.0.1:8080/healthz")
try:
    with urllib.request.urlopen(url, timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except (OSError, urllib.error.URLError) as error:
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)

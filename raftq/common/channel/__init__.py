"""The frontend ↔ backend data channel: authenticated, multiplexed, pipelined frames over
long-lived TCP (or TLS) connections, sharing each backend node's API port (docs/internal-api.md)."""

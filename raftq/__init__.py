"""raftq: a self-hosted, Raft-replicated message queue with an SQS-style HTTP API."""

__version__ = "0.1.0"

"""Raft for raftq: pysyncobj (pinned) with its gaps closed, shared by backend and metadata.

Imports `raftq.common` only; `raftq.backend` and `raftq.metadata` import it, never each other.
"""

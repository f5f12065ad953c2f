"""Python SDK, task worker and the `raftq` command line."""

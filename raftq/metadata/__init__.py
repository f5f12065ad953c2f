"""Metadata service: queues, placement, clusters, principals (a Raft group). Not built yet."""

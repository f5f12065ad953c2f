"""Backend replica: the queue state machine (pure), its stores, and (later) the Raft node."""

"""Shared by every tier: errors, wire models and commands, codec, settings, clock.

Imports nothing from `raftq.backend`, `raftq.metadata`, `raftq.frontend` or `raftq.client`.
"""

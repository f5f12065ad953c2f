"""The envelope's old import path, kept for raftq/frontend/forwarding.py only.

The envelope lives in raftq/common/envelope.py (the admin CLI uses it too). forwarding.py still
imports it from here because another change rewrites that module; once it imports
raftq.common.envelope, delete this file.
"""

from raftq.common.envelope import Keyring, KeyUnavailable, QueueCipher, WrappedKey

__all__ = ["KeyUnavailable", "Keyring", "QueueCipher", "WrappedKey"]

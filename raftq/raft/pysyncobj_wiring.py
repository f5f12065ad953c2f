"""How raftq wires pysyncobj: its configuration for a member, the transport that fsyncs the
journal before any message leaves, and the module patches it needs (raft/node.py's header says
why each exists). Importing this module applies the patches; raft/node.py does, before any
member is made.

- `createJournal` hands pysyncobj our `DurableJournal` (raft/journal.py) as it is.
- Raft messages are framed as stored zlib streams (`_StoredZlib`): pysyncobj compresses every
  message before it encrypts it, and entries carry ciphertext, which hardly compresses.
- pickle protocol 5 for pysyncobj's messages (no inflation of bytes).
- `FsyncBeforeSendTransport.send` syncs the journal before a message leaves (the durability
  rule of raft/journal.py), and asks the poller to wake when the socket can take more.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

import pysyncobj.pickle as pysyncobj_pickle
import pysyncobj.syncobj as pysyncobj_module
import pysyncobj.tcp_connection as pysyncobj_tcp_connection
from pysyncobj import SyncObjConf
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport

from raftq.common.settings import RaftSettings
from raftq.raft.journal import DurableJournal

SNAPSHOT_NAME = "snapshot"

# The largest entry sent whole: above the largest command a frontend can make (a batch in a
# request of at most limits.REQUEST_BODY_MAX_BYTES, sealed, with its framing; or ten 1 MiB
# messages).
MAX_ENTRY_BYTES = 16 << 20
# Socket buffers of Raft connections: a 1 MiB message leaves in one go, larger entries as the
# socket takes them (`_wake_when_writable`).
_SOCKET_BUFFER_BYTES = 4 << 20

# A module global of pysyncobj/pickle.py that its dumps() reads on every call.
setattr(pysyncobj_pickle, "__protocol", 5)

_original_create_journal = pysyncobj_module.createJournal


def _create_journal(journal_file: object) -> object:
    if isinstance(journal_file, DurableJournal):
        return journal_file
    return _original_create_journal(journal_file)


pysyncobj_module.createJournal = _create_journal


class _StoredZlib:
    """What pysyncobj's tcp_connection module sees as `zlib`: `compress` writes a stored zlib
    stream (RFC 1950/1951: header, blocks of up to 65,535 bytes copied as they are, Adler-32)
    whatever level it is asked for. `zlib.compress(data, 0)` would write the same kind of stream
    but spends about 40 us setting up a deflate state for every message, more than the
    encryption of a heartbeat; level 3, pysyncobj's, about 100 us."""

    _HEADER = b"\x78\x01"  # deflate, 32 KiB window, no dictionary; a multiple of 31
    _MAX_BLOCK = 65_535

    @staticmethod
    def compress(data: bytes, level: int = -1) -> bytes:
        del level  # pysyncobj asks for 3
        view = memoryview(data)
        parts: list[bytes | memoryview] = [_StoredZlib._HEADER]
        if not data:
            parts.append(b"\x01\x00\x00\xff\xff")  # one empty final block
        for start in range(0, len(data), _StoredZlib._MAX_BLOCK):
            block = view[start : start + _StoredZlib._MAX_BLOCK]
            final = start + _StoredZlib._MAX_BLOCK >= len(data)
            parts.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF))
            parts.append(block)
        parts.append(struct.pack(">I", zlib.adler32(data)))
        return b"".join(parts)

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return zlib.decompress(data)


pysyncobj_tcp_connection.zlib = _StoredZlib


class FsyncBeforeSendTransport(TCPTransport):  # type: ignore[misc]
    def send(self, node: Any, message: Any) -> bool:
        self._syncObj.journal.sync()
        sent: bool = super().send(node, self._syncObj._with_read_index(message))
        connection = self._connections.get(node)
        if sent and connection is not None:
            _wake_when_writable(connection)
        return sent


def _wake_when_writable(connection: Any) -> None:
    """If `connection` kept part of a message, have the poller call it when the socket can
    take more (pysyncobj subscribes to writability only after a write event, not after a send;
    once the buffer is empty its handler drops the subscription again)."""
    if connection.state != CONNECTION_STATE.CONNECTED or not connection.getSendBufferSize():
        return
    connection._TcpConnection__poller.subscribe(
        connection.fileno(),
        connection._TcpConnection__processConnection,
        POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR,
    )


def pysyncobj_conf(
    settings: RaftSettings,
    journal: DurableJournal,
    serializer: Callable[[str, tuple[Any, Any, Any]], None],
    deserializer: Callable[[str], tuple[Any, Any, Any]],
    serialize_checker: Callable[[], int],
) -> SyncObjConf:
    """pysyncobj's configuration for a member: our journal and snapshot files, the timings of
    `settings.timings`, the raft secret, and the pysyncobj features we do not use turned off."""
    timings = settings.timings
    secret = settings.raft_secret.get_secret_value() if settings.raft_secret else None
    return SyncObjConf(
        journalFile=journal,
        fullDumpFile=str(settings.data_dir / SNAPSHOT_NAME),
        serializer=serializer,
        deserializer=deserializer,
        serializeChecker=serialize_checker,
        password=secret,
        # Without it pysyncobj listens on 0.0.0.0 (every interface) at self_address's port.
        bindAddress=settings.self_address,
        autoTick=True,
        autoTickPeriod=timings.tick_s,
        appendEntriesPeriod=timings.append_entries_period_s,
        appendEntriesUseBatch=False,
        appendEntriesBatchSizeBytes=MAX_ENTRY_BYTES,
        sendBufferSize=_SOCKET_BUFFER_BYTES,
        recvBufferSize=_SOCKET_BUFFER_BYTES,
        raftMinTimeout=timings.election_timeout_min_s,
        raftMaxTimeout=timings.election_timeout_max_s,
        leaderFallbackTimeout=timings.leader_fallback_s,
        connectionTimeout=timings.connection_timeout_s,
        connectionRetryTime=timings.connection_retry_s,
        dnsFailCacheTime=timings.dns_fail_cache_s,
        # Names are looked up again this often: a member rescheduled under the same name with
        # a new address (a Kubernetes pod) is found again within it.
        dnsCacheTime=timings.dns_cache_s,
        logCompactionMinEntries=timings.compaction_min_entries,
        logCompactionMinTime=timings.compaction_min_time_s,
        commandsWaitLeader=False,
        # One member added or removed at a time (raft/member_changes.py).
        dynamicMembershipChange=True,
        useFork=False,
    )

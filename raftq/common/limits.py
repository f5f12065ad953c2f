"""Limits and defaults of the queue API, in one place, each with the reason for its number.

Times are milliseconds, sizes bytes. SQS's figures come from ../shared/notes/sqs.md §1.2–1.4.
"""

from typing import Final

SECOND_MS: Final = 1_000
MINUTE_MS: Final = 60 * SECOND_MS
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS

# SQS: VisibilityTimeout 0 s–12 h, default 30 s; ChangeMessageVisibility may not push a message
# past 12 h from the receive that made it in flight.
VISIBILITY_TIMEOUT_MAX_MS: Final = 12 * HOUR_MS
VISIBILITY_TIMEOUT_DEFAULT_MS: Final = 30 * SECOND_MS

# SQS: MessageRetentionPeriod 60 s–14 d, default 4 d.
RETENTION_MIN_MS: Final = 60 * SECOND_MS
RETENTION_MAX_MS: Final = 14 * DAY_MS
RETENTION_DEFAULT_MS: Final = 4 * DAY_MS

# SQS: DelaySeconds 0–900 s per queue and per message (standard queues only per message).
DELAY_MAX_MS: Final = 15 * MINUTE_MS

# SQS: ReceiveMessageWaitTimeSeconds / WaitTimeSeconds 0–20 s.
RECEIVE_WAIT_MAX_MS: Final = 20 * SECOND_MS

# SQS: MaximumMessageSize 1 KiB–1 MiB, default 1 MiB (raised from 256 KiB in 2025).
MESSAGE_SIZE_MIN_BYTES: Final = 1_024
MESSAGE_SIZE_MAX_BYTES: Final = 1_048_576
# SQS: at most 10 message attributes; a trace context's `traceparent` and `tracestate` count.
MESSAGE_ATTRIBUTES_MAX: Final = 10

# The largest request body a frontend reads. A message is measured after decoding (body and
# attributes, in bytes, against its queue's limit), and a batch holds at most
# MESSAGE_SIZE_MAX_BYTES of them, so the request must fit the worst encoding of that much:
# JSON escapes a control character as `\u0000` (6 bytes for 1; "é" is 6 for 2), form encoding
# takes 3 per byte, base64 4 per 3. Six times the message limit, and 64 KiB for the rest.
REQUEST_BODY_MAX_BYTES: Final = 6 * MESSAGE_SIZE_MAX_BYTES + 64 * 1_024

# The backend stores what the frontend hands it: encrypted bodies and encoded attributes are a
# little larger than what the user sent (nonce, tag, key id, framing). The frontend enforces the
# user-visible limit on plaintext; the backend allows this much on top so it never refuses a
# message the frontend accepted, while still bounding what a buggy or hostile caller can store.
STORED_OVERHEAD_ALLOWANCE_BYTES: Final = 4_096

# Dedup window: SQS fixes it at 5 min; raftq makes it a queue attribute on every queue type.
DEDUP_WINDOW_DEFAULT_MS: Final = 5 * MINUTE_MS
DEDUP_WINDOW_MIN_MS: Final = 1 * SECOND_MS
DEDUP_WINDOW_MAX_MS: Final = 1 * DAY_MS

# SQS: a retried ReceiveMessage with the same ReceiveRequestAttemptId is answered alike for 5 min.
RECEIVE_ATTEMPT_WINDOW_MS: Final = 5 * MINUTE_MS

# Status of removed messages (deleted, dead-lettered, expired) and results stored on delete are
# kept this long. Each removal leaves one small record, so the default matches the dedup window
# rather than retention: at 10 k deletes/s a day of records would be ~10^9 keys.
STATUS_RETENTION_DEFAULT_MS: Final = 5 * MINUTE_MS
STATUS_RETENTION_MAX_MS: Final = 14 * DAY_MS

# A result stored on delete is bounded like a message attribute blob, far below a message.
DELETE_RESULT_MAX_BYTES: Final = 64 * 1_024

# SQS: PurgeQueue may not be repeated within 60 s (PurgeQueueInProgress).
PURGE_COOLDOWN_MS: Final = 60 * SECOND_MS

# SQS: about 120,000 in-flight messages per queue; standard queues then answer OverLimit, FIFO
# queues return nothing more.
INFLIGHT_MAX: Final = 120_000

# SQS: redrive maxReceiveCount is 1–1000.
MAX_RECEIVE_COUNT_MAX: Final = 1_000

# SQS batches hold 10 entries; the frontend may allow more (a setting), and group commit carries
# many commands per Raft entry, so one backend command accepts up to this many entries.
BATCH_ENTRIES_MAX: Final = 100

# Priorities 0 (lowest, the default) to 9 (highest), standard queues only.
PRIORITY_MAX: Final = 9

# SQS: MessageDeduplicationId / MessageGroupId / ReceiveRequestAttemptId: at most 128 chars.
TOKEN_MAX_CHARS: Final = 128

# SQS: batch entry Id at most 80 chars of [A-Za-z0-9_-]; queue names likewise (with `.fifo`).
ENTRY_ID_MAX_CHARS: Final = 80
QUEUE_NAME_MAX_CHARS: Final = 80

# A queue move copies records in chunks of at most this many bytes (keys and values), one Raft
# entry each, like group-commit batches. (Entries go to followers whole up to 16 MiB, so
# pysyncobj's chunked transfer, whose last-chunk test is wrong, is not used: raft/node.py.)
# Measured: 48 KiB copies as fast as 256 KiB and faster than 2 MiB (docs/benchmarks.md). A
# single record may exceed it.
MOVE_CHUNK_MAX_BYTES: Final = 48 << 10
MOVE_CHUNK_MAX_RECORDS: Final = 20_000

# Dead letters waiting for a dead-letter queue on another cluster are forwarded in batches
# (raftq/metadata/dead_letter_forwarder.py): one read on the source, one accept on the DLQ and one
# release on the source per batch. A batch holds at most this many, and stops growing at this
# many bytes of bodies and attributes (a single message may exceed it), so each accept is one
# Raft entry of about 1 MiB at most, plus one message: far below the 12 MiB a request may carry.
DEAD_LETTER_BATCH_MAX: Final = 64
DEAD_LETTER_BATCH_MAX_BYTES: Final = 1 << 20
# A backend member's load report names at most this many queues holding such dead letters
# (those with the most first): the rest are named once these drain. ~20 bytes each.
DEAD_LETTER_REPORT_MAX_QUEUES: Final = 10_000

# SQS queue tags: at most 50 per queue, keys 1–128 chars, values 0–256 chars, and keys starting
# with `aws:` are reserved for AWS. A request that names more keys than a queue can hold is
# refused whole, so no request carries more than this many either.
TAGS_PER_QUEUE_MAX: Final = 50
TAG_KEY_MAX_CHARS: Final = 128
TAG_VALUE_MAX_CHARS: Final = 256
TAG_KEY_RESERVED_PREFIX: Final = "aws:"

# SQS RedriveAllowPolicy: `byQueue` names 1–10 source queues.
REDRIVE_ALLOW_SOURCE_QUEUES_MAX: Final = 10

# SQS AddPermission: a label of 1–80 chars of [A-Za-z0-9_-], unique per queue.
GRANT_LABEL_MAX_CHARS: Final = 80
# Not an SQS figure: one AddPermission becomes one grant per principal, in one Raft entry, and
# every access-key lookup scans its principal's grants; this bounds both.
LABELLED_GRANTS_MAX: Final = 100

# SQS StartMessageMoveTask: MaxNumberOfMessagesPerSecond 1–500; ListMessageMoveTasks shows the
# 10 most recent tasks of a source queue, so the catalogue keeps the 10 latest finished ones (and
# the running one) and forgets older ones. Task handles are ours: ids the frontend chooses.
MOVE_TASK_RATE_MAX_PER_S: Final = 500
MOVE_TASKS_FINISHED_KEPT: Final = 10
MOVE_TASK_HANDLE_MAX_CHARS: Final = 128
MOVE_TASK_FAILURE_REASON_MAX_CHARS: Final = 256

# Due transitions (a delay or lease ending, a message expiring by retention, an expired record
# removed: backend/work_budget.py) one Raft entry may make, shared by all its commands. An entry
# is applied on pysyncobj's thread, which also sends heartbeats (every 0.25 s; elections after
# 1.0-2.5 s without one), on every replica at once: what is due beyond this is left to later
# entries, the leader's expiry sweeps among them. Measured on the 2-core test machine under load:
# a delay or lease ending costs 35 us, a retention expiry (which writes a status record) 55-70 us,
# so an entry of 1,000 applies in under about 70 ms, a quarter of a heartbeat period. On three
# nodes (bench/mass_transition_bench.py, docs/benchmarks.md "Mass transitions") 10^6 at once
# take about 1,000 entries and no election; in one entry, several elections. The default of
# the backend setting `due_transitions_per_entry`.
DUE_TRANSITIONS_PER_ENTRY: Final = 1_000

# Payloads of the newest Raft log entries a member keeps in memory (raft/journal.py); older ones
# are read back from the log file when asked for. Without a bound every payload stayed in memory
# until the next compaction (50,000 entries): 50 GB with 1 MiB messages. What is read most is
# the newest entries (sent to followers that keep up, applied next), and an entry is at most
# raft/node.py's MAX_ENTRY_BYTES (16 MiB): 64 MiB holds four of the largest, sixty 1 MiB
# messages, or about 1,300 group-commit entries of 48 KiB, and more than a second of what three
# members on the 2-core test machine commit (11-50 MiB/s of 1 MiB messages,
# bench/raft_log_memory_bench.py): a follower that keeps up, and apply, read from memory; one
# further behind reads the file (often still in the page cache). The newest entry is kept even
# if it alone is larger.
RAFT_LOG_CACHE_BYTES: Final = 64 << 20

# A member compacts its Raft log (snapshot, then the log is cut) once the log file holds this
# many bytes, as well as after RaftTimings.compaction_min_entries entries or
# compaction_min_time_s. With 1 MiB messages 50,000 entries are 50 GB of disk, and opening the
# log verifies every record (a restart reads all of it). A snapshot archives the whole store, so
# it must stay rare next to the traffic that fills the log: three members on the 2-core test
# machine commit 11-50 MiB/s of 1 MiB messages (bench/raft_log_memory_bench.py), so 4 GiB is
# a snapshot every 1.5-6 minutes at full load, and a restart verifies at most about 4 GiB.
RAFT_LOG_COMPACTION_BYTES: Final = 4 << 30

# How long a backend believes what the metadata leader said about a frontend credential (its
# secret, or that it is unknown or revoked), and how often it rechecks the frontends it has open
# channel connections with: a revoked frontend's next connection is refused, and its open ones
# are closed, within about this long (plus one metadata round trip). Short enough that a
# revocation takes effect while the operator watches; long enough that a backend asks about
# each connected frontend only a few times a minute.
FRONTEND_CREDENTIAL_CACHE_S: Final = 5.0
# Answers a backend keeps (ids of live frontends, and of unknown ones a peer tried): more than
# any deployment's frontends; when full, the cache is emptied and refilled on demand.
FRONTEND_CREDENTIAL_CACHE_ENTRIES: Final = 10_000

# The most one expiry sweep (commands.Expire) or one entry's budget may be set to: a million,
# what the unbudgeted bench needs to do a mass transition of 10^6 in one entry; anything near it
# stalls the Raft thread for tens of seconds.
EXPIRE_TRANSITIONS_MAX: Final = 1_000_000

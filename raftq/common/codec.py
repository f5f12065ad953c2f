"""The one encode/decode pair for replicated commands and their results. No pickle.

Format: msgpack of the model's fields. Chosen by measurement (`python -m bench.codec_bench`,
a group-committed batch of 100 single-message sends, 2-core x86_64): msgpack 0.57 ms vs JSON
with base64 bodies 1.27 ms at 100 B bodies, 2.0 ms vs 9.0 ms at 10 KiB, and a third smaller,
because bodies are ciphertext bytes that JSON can only carry as base64.

Decoding goes through the pydantic models (strict, extra fields forbidden), so any byte string
either becomes a valid command or raises `DecodeError` carrying the raw bytes; nothing else.

Raft entries come in three formats (commands.py). `encode_entry` writes v2, or v3 at level 3,
from commands already encoded, copying their bytes in without reading them: a command is
validated where it is built and in apply (`decode_entry`), and nowhere in between. A node
decodes the formats up to its level (common/command_levels.py); a newer one is
`EntryFormatTooNew`, which apply turns into a stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgpack
from pydantic import BaseModel, TypeAdapter, ValidationError

from raftq.common.command_levels import CODE_LEVEL
from raftq.common.commands import (
    COMMAND_VERSION,
    COMPACT_VERSION,
    SPLICED_VERSION,
    AnyCommand,
    CommandBatch,
    CompactBatch,
    SplicedBatch,
)
from raftq.common.errors import DecodeError, EntryFormatTooNew, UnsupportedCommand

ModelT = TypeVar("ModelT", bound=BaseModel)

# Far above any legal command batch; stops a hostile payload from asking msgpack for huge
# containers before validation can look at it.
_MAX_CONTAINER_LEN = 100_000

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)

# The first bytes of each entry format as written: v3 a 3-array of 3 first; v2 a 3-map and v1
# a 2-map, each with its "v" first.
_VERSION_PREFIXES = {
    bytes((0x93, COMPACT_VERSION)): COMPACT_VERSION,
    b"\x83\xa1v" + bytes((SPLICED_VERSION,)): SPLICED_VERSION,
    b"\x82\xa1v" + bytes((COMMAND_VERSION,)): COMMAND_VERSION,
}


def encode(model: BaseModel) -> bytes:
    packed: bytes = msgpack.packb(model.model_dump(mode="python"), use_bin_type=True)
    return packed


def decode(raw: bytes, model: type[ModelT]) -> ModelT:
    return _validate(raw, unpack(raw), model)


def encode_batch(batch: CommandBatch) -> bytes:
    """A v1 entry (still written by tools and tests; the leader writes v2)."""
    return encode(batch)


def decode_batch(raw: bytes) -> CommandBatch:
    """A v1 entry, whole, or `DecodeError`; any other version is `UnsupportedCommand`."""
    data = unpack(raw)
    _check_version(data, COMMAND_VERSION)
    return _validate(raw, data, CommandBatch)


def encode_entry(now_ms: int, commands: Sequence[bytes], level: int = SPLICED_VERSION) -> bytes:
    """An entry of encoded commands, in the newest format `level` allows: v3 from level 3 on,
    else v2 — the bytes of `encode(SplicedBatch(now_ms=now_ms, commands=commands))` — without
    building or validating a model (the leader's path). `level` is the group's agreed one."""
    if level >= COMPACT_VERSION:
        compact: bytes = msgpack.packb([COMPACT_VERSION, now_ms, commands], use_bin_type=True)
        return compact
    entry = {"v": SPLICED_VERSION, "now_ms": now_ms, "commands": commands}
    packed: bytes = msgpack.packb(entry, use_bin_type=True)
    return packed


def entry_version(raw: bytes) -> int | None:
    """An entry's format version, from its first bytes alone as `encode_entry` and
    `encode_batch` write them, or None: a cheap label for metrics, not a validation."""
    return _VERSION_PREFIXES.get(raw[:4]) or _VERSION_PREFIXES.get(raw[:2])


def decode_entry(raw: bytes, level: int = CODE_LEVEL) -> list[AnyCommand | DecodeError]:
    """The commands of a Raft entry of any version up to `level`, in order, each with its
    `now_ms`.

    An entry that does not decode as a whole raises (`DecodeError`, or `UnsupportedCommand` for
    an unknown version, `EntryFormatTooNew` for one above `level`). A v1 entry decodes whole or
    not at all, as it always did. In a v2 or v3 entry each command is validated on its own with
    the entry's `now_ms` (whatever its bytes carry): one that does not decode is its
    `DecodeError`, at its place in the list.
    """
    data = unpack(raw)
    if isinstance(data, tuple) and data and type(data[0]) is int and data[0] >= COMPACT_VERSION:
        _check_level(data[0], level)
        if len(data) != len(CompactBatch.model_fields):
            raise DecodeError("a v3 entry is [3, now_ms, commands]", raw=raw)
        compact = _validate(
            raw, dict(zip(CompactBatch.model_fields, data, strict=True)), CompactBatch
        )
        return [_decode_or_error(command, compact.now_ms) for command in compact.commands]
    if isinstance(data, dict) and _is_version(data.get("v"), SPLICED_VERSION):
        entry = _validate(raw, data, SplicedBatch)
        return [_decode_or_error(command, entry.now_ms) for command in entry.commands]
    if isinstance(data, dict) and type(data.get("v")) is int:
        _check_level(data["v"], level)
    _check_version(data, COMMAND_VERSION)
    return list(_validate(raw, data, CommandBatch).commands)


def decode_command(raw: bytes, now_ms: int | None = None) -> AnyCommand:
    """One command encoded alone (`encode(command)`), its kind told by its `kind`; with `now_ms`,
    stamped with it in place of the time its bytes carry."""
    data = unpack(raw)
    if not isinstance(data, dict):
        raise DecodeError("a command must be a msgpack map", raw=raw)
    if now_ms is not None:
        data["now_ms"] = now_ms
    try:
        return _COMMAND.validate_python(data)
    except ValidationError as error:
        raise _invalid("command", raw, error) from None


def unpack(raw: bytes) -> Any:
    """One msgpack value, with every container bounded; `DecodeError` for anything else."""
    try:
        return msgpack.unpackb(
            raw,
            use_list=False,
            raw=False,
            strict_map_key=True,
            max_array_len=_MAX_CONTAINER_LEN,
            max_map_len=_MAX_CONTAINER_LEN,
        )
    except (
        ValueError,
        TypeError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
    ) as error:
        raise DecodeError(f"not a msgpack value: {error}", raw=raw) from None


def _decode_or_error(raw: bytes, now_ms: int) -> AnyCommand | DecodeError:
    try:
        return decode_command(raw, now_ms)
    except DecodeError as error:
        return error


def _is_version(version: object, expected: int) -> bool:
    # True and 1.0 equal 1, and pydantic's strict Literal[1] takes them: only the int is v1.
    return type(version) is int and version == expected


def _check_level(version: int, level: int) -> None:
    if version > level:
        raise EntryFormatTooNew(
            f"entry format v{version} is newer than this node applies (command level {level})",
            field="v",
        )


def _check_version(data: object, expected: int) -> None:
    if isinstance(data, dict):
        version = data.get("v")
        if not _is_version(version, expected):
            raise UnsupportedCommand(f"command version {version!r} is not supported", field="v")


def _validate(raw: bytes, data: object, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _invalid(model.__name__, raw, error) from None


def _invalid(name: str, raw: bytes, error: ValidationError) -> DecodeError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return DecodeError(f"invalid {name}: {first['msg']}", raw=raw, field=field)

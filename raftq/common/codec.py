"""The one encode/decode pair for replicated commands and their results. No pickle.

Format: msgpack of the model's fields. Chosen by measurement (`python -m bench.codec_bench`,
a group-committed batch of 100 single-message sends, 2-core x86_64): msgpack 0.57 ms vs JSON
with base64 bodies 1.27 ms at 100 B bodies, 2.0 ms vs 9.0 ms at 10 KiB, and a third smaller,
because bodies are ciphertext bytes that JSON can only carry as base64.

Decoding goes through the pydantic models (strict, extra fields forbidden), so any byte string
either becomes a valid command or raises `DecodeError` carrying the raw bytes; nothing else.

Raft entries come in two formats (commands.py). `encode_entry` writes v2 from commands already
encoded, copying their bytes in without reading them: a command is validated where it is built
and in apply (`decode_entry`), and nowhere in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgpack
from pydantic import BaseModel, TypeAdapter, ValidationError

from raftq.common.commands import (
    COMMAND_VERSION,
    SPLICED_VERSION,
    AnyCommand,
    CommandBatch,
    SplicedBatch,
)
from raftq.common.errors import DecodeError, UnsupportedCommand

ModelT = TypeVar("ModelT", bound=BaseModel)

# Far above any legal command batch; stops a hostile payload from asking msgpack for huge
# containers before validation can look at it.
_MAX_CONTAINER_LEN = 100_000

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)


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


def encode_entry(now_ms: int, commands: Sequence[bytes]) -> bytes:
    """A v2 entry of encoded commands: the bytes of `encode(SplicedBatch(now_ms=now_ms,
    commands=commands))`, without building or validating the model (the leader's path)."""
    entry = {"v": SPLICED_VERSION, "now_ms": now_ms, "commands": commands}
    packed: bytes = msgpack.packb(entry, use_bin_type=True)
    return packed


def decode_entry(raw: bytes) -> list[AnyCommand | DecodeError]:
    """The commands of a Raft entry of either version, in order, each with its `now_ms`.

    An entry that does not decode as a whole raises (`DecodeError`, or `UnsupportedCommand` for
    an unknown version). A v1 entry decodes whole or not at all, as it always did. In a v2 entry
    each command is validated on its own with the entry's `now_ms` (whatever its bytes carry):
    one that does not decode is its `DecodeError`, at its place in the list.
    """
    data = unpack(raw)
    if isinstance(data, dict) and _is_version(data.get("v"), SPLICED_VERSION):
        entry = _validate(raw, data, SplicedBatch)
        return [_decode_or_error(command, entry.now_ms) for command in entry.commands]
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

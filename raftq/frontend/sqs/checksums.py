"""The MD5 digests SQS answers with, which the Java, .NET, PHP and Go SDKs verify
(../shared/notes/sqs.md §2.7): of the body, of the message attributes and of the system
attributes. Attribute values here are SQS's JSON shapes: `{"DataType", "StringValue"}` or
`{"DataType", "BinaryValue"}` with the binary as base64."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping

# One byte after the data type says how the value is encoded.
_STRING_TRANSPORT = b"\x01"
_BINARY_TRANSPORT = b"\x02"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, str]]) -> str:
    """Names sorted; each name, data type and value length-prefixed (4 bytes, big-endian)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if data_type.startswith("Binary"):
            raw = base64.b64decode(value["BinaryValue"])
            digest.update(_BINARY_TRANSPORT + struct.pack(">I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(_STRING_TRANSPORT + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()

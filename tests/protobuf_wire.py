"""Hand-encoding of protobuf wire data, for models the protobuf library will not build (too deep,
too many nodes) or that must be damaged at the byte level."""

from __future__ import annotations


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): submessages, strings, bytes."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload

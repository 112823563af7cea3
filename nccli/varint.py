"""LEB128 varints (7-bit groups, lowest first) and zigzag mapping of signed integers."""

from __future__ import annotations

#: Longest varint read: enough for any 64-bit value.
MAX_BYTES = 10


def encode(value: int) -> bytes:
    """The varint of a non-negative integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it; ValueError saying what is
    wrong when the data ends inside it or it runs over MAX_BYTES."""
    value = 0
    for shift in range(0, 7 * MAX_BYTES, 7):
        if position >= len(data):
            raise ValueError("ends inside a number")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise ValueError("holds an over-long number")


def zigzag(value: int) -> int:
    """Signed to unsigned: 0, -1, 1, -2 ... to 0, 1, 2, 3 ..."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2

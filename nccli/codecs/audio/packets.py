"""The DATA payload of the classical audio backends: a run of codec packets.

    first_pts (zigzag varint), duration (varint), count (varint), last_duration (varint),
    then count sizes (varints), then the packets' bytes

pts and durations are in samples at the codec's rate; every packet lasts ``duration``
samples except the last, and each starts where the one before ends. This costs a byte or
two per packet, about what Ogg's lacing costs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from nccli import varint
from nccli.container.errors import CorruptError

#: Most packets in one payload (a payload holds about a second).
MAX_PACKETS = 1 << 16


@dataclass(frozen=True)
class Packet:
    """One coded packet and where it lies in time."""

    pts: int
    duration: int
    data: bytes


def pack(packets: list[Packet]) -> bytes:
    """Packets that follow each other in time, all of one duration but the last."""
    first, last = packets[0], packets[-1]
    for before, after in itertools.pairwise(packets):
        if before.duration != first.duration:
            raise ValueError("only the last packet may differ in duration")
        if after.pts != before.pts + before.duration:
            raise ValueError("packets must follow each other without gaps")
    head = [varint.zigzag(first.pts), first.duration, len(packets), last.duration]
    sizes = [len(p.data) for p in packets]
    return b"".join(varint.encode(v) for v in head + sizes) + b"".join(p.data for p in packets)


def unpack(payload: bytes) -> list[Packet]:
    """Packets of one payload; CorruptError when the layout does not add up."""
    reader = _Reader(payload)
    pts = varint.unzigzag(reader.varint())
    duration, count, last_duration = reader.varint(), reader.varint(), reader.varint()
    if not 1 <= count <= MAX_PACKETS:
        raise CorruptError(f"audio payload claims {count} packets")
    sizes = [reader.varint() for _ in range(count)]
    if reader.offset + sum(sizes) != len(payload):
        raise CorruptError("audio payload sizes do not add up")
    packets, offset = [], reader.offset
    for index, size in enumerate(sizes):
        length = last_duration if index == count - 1 else duration
        packets.append(Packet(pts, length, payload[offset : offset + size]))
        offset += size
        pts += length
    return packets


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def varint(self) -> int:
        try:
            value, self.offset = varint.read(self.data, self.offset)
        except ValueError as exc:
            raise CorruptError(f"audio payload {exc} in its packet table") from None
        return value

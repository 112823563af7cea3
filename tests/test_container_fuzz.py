"""Property and fuzz tests of the container reader: only ContainerError may ever escape."""

from __future__ import annotations

import contextlib
import random
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nccli import container
from nccli.container import constants as c
from nccli.container.errors import ContainerError
from nccli.container.header import Header

MUTATIONS = 10_000

text = st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
headers = st.builds(
    Header,
    codec=text,
    codec_version=st.integers(0, 2**31),
    modality=st.just("image"),
    media=st.fixed_dictionaries(
        {
            "width": st.integers(1, 4000),
            "height": st.integers(1, 4000),
            "mode": st.sampled_from(["L", "LA", "RGB", "RGBA"]),
            "bit_depth": st.sampled_from([8, 16]),
        }
    ),
    params=st.dictionaries(text, json_values, max_size=4),
    fields=st.dictionaries(text, json_values, max_size=4),
    metadata=st.dictionaries(text, text, max_size=4),
    writer=text,
)
chunk_types = st.sampled_from([c.DATA, b"iccp", b"abcd", b"xtra"])
chunk_lists = st.lists(st.tuples(chunk_types, st.binary(max_size=64)), max_size=6)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=headers, chunks=chunk_lists, index=st.booleans())
def test_generated_containers_round_trip(header, chunks, index):
    data = container.dumps(header, chunks, index=index)
    parsed = container.loads(data)
    assert parsed.header == header
    assert [(ch.type, ch.payload) for ch in parsed.chunks] == list(chunks)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_container_errors(data):
    with contextlib.suppress(ContainerError):
        container.loads(c.SIGNATURE + data)


@settings(max_examples=300, deadline=None)
@given(header=headers, chunks=chunk_lists, cut=st.integers(min_value=1))
def test_truncated_containers_are_always_detected(header, chunks, cut):
    data = container.dumps(header, chunks)
    with pytest.raises(ContainerError):
        container.loads(data[: cut % len(data)])


def _seeds() -> list[bytes]:
    media = {"width": 7, "height": 5, "mode": "RGBA", "bit_depth": 8}
    small = Header("webp", 1, "image", media, params={"quality": 80}, metadata={"a": "b"})
    big = Header("png", 1, "image", media, metadata={f"k{i}": "v" * 40 for i in range(150)})
    return [
        container.dumps(small, [(c.DATA, b"payload-one"), (c.DATA, b"two")]),
        container.dumps(big, [(c.DATA, bytes(range(256))), (b"iccp", b"profile")], index=False),
        container.dumps(small, []),
    ]


def test_every_single_flipped_byte_is_detected():
    for seed in _seeds():
        for position in range(len(seed)):
            for mask in (0x01, 0x80, 0xFF):
                data = bytearray(seed)
                data[position] ^= mask
                with pytest.raises(ContainerError):
                    container.loads(bytes(data))


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0:  # flip a few bits
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        del buf[rng.randrange(len(buf)) :]
    elif kind == 2:  # insert random bytes
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = rng.randbytes(rng.randint(1, 16))
    elif kind == 3:  # delete a span
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 16)]
    elif kind == 4:  # duplicate a span
        at = rng.randrange(len(buf))
        buf[at:at] = buf[at : at + rng.randint(1, 64)]
    elif kind == 5:  # overwrite a length field with an extreme value
        at = rng.randrange(max(1, len(buf) - 4))
        buf[at : at + 4] = struct.pack(
            ">I", rng.choice([0, 1, 2**31, 2**32 - 1, c.MAX_CHUNK_LENGTH])
        )
    else:  # replace a chunk payload and fix its CRC, so deeper checks get exercised
        return _rewrite_chunk(rng, bytes(buf))
    return bytes(buf)


def _rewrite_chunk(rng: random.Random, data: bytes) -> bytes:
    offset, spans = c.PREAMBLE.size, []
    while offset + 8 <= len(data):
        length, _ = struct.unpack_from(">I4s", data, offset)
        spans.append((offset, length))
        offset += 12 + length
    if not spans:
        return data
    start, length = rng.choice(spans)
    chunk_type = data[start + 4 : start + 8]
    payload = bytearray(data[start + 8 : start + 8 + length])
    if payload:
        payload[rng.randrange(len(payload))] = rng.randrange(256)
    if rng.random() < 0.3:
        payload = payload[: rng.randrange(len(payload) + 1)]
    new = struct.pack(">I", len(payload)) + chunk_type + payload
    new += struct.pack(">I", zlib.crc32(bytes(payload), zlib.crc32(chunk_type)))
    return data[:start] + new + data[start + 12 + length :]


def test_ten_thousand_mutated_containers_raise_only_container_errors():
    rng = random.Random(20261122)
    seeds = _seeds()
    outcomes = {"read": 0, "refused": 0}
    for _ in range(MUTATIONS):
        data = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            data = _mutate(rng, data) or data
        try:
            container.loads(data)
            outcomes["read"] += 1
        except ContainerError:
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == MUTATIONS
    assert outcomes["refused"] > MUTATIONS * 0.9

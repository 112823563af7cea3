"""The .ncc container: round trips, structure rules, limits and every error path."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from nccli import container
from nccli.container import compression
from nccli.container import constants as c
from nccli.container.errors import (
    ContainerError,
    CorruptError,
    LimitError,
    NotAContainerError,
    TruncatedError,
    UnsupportedVersionError,
)
from nccli.container.header import Header, decode_header, encode_header
from nccli.container.reader import Reader, parse_index, read_chunk_at


def image_header(**overrides) -> Header:
    media = {"width": 4, "height": 3, "mode": "RGB", "bit_depth": 8}
    fields = {"codec": "test", "codec_version": 1, "modality": "image", "media": media}
    return Header(**{**fields, **overrides})


def chunk(chunk_type: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(chunk_type))
    return struct.pack(">I4s", len(payload), chunk_type) + payload + struct.pack(">I", crc)


def preamble(writer: int = 1, reader: int = 1) -> bytes:
    body = c.SIGNATURE + struct.pack(">HH", writer, reader)
    return body + struct.pack(">I", zlib.crc32(body))


def assemble(*chunks: bytes, header: Header | None = None, version: tuple = (1, 1)) -> bytes:
    head = chunk(c.HEAD, encode_header(header or image_header()))
    return preamble(*version) + head + b"".join(chunks)


TAIL_NO_INDEX = chunk(c.TAIL, struct.pack(">Q", 0))


def test_round_trip_keeps_header_and_payloads_in_order():
    header = image_header(
        params={"quality": 80},
        fields={"scale": 2},
        model=container.ModelRef("m", "ab" * 32),
        entropy_coder=container.CoderRef("ans", "0.5"),
        metadata={"title": "x"},
        writer="nccli test",
    )
    payloads = [(c.DATA, b"first"), (b"iccp", b"profile"), (c.DATA, b""), (c.DATA, b"third")]
    data = container.dumps(header, payloads)
    parsed = container.loads(data)
    assert parsed.header == header
    assert parsed.payloads() == [b"first", b"", b"third"]
    assert parsed.payloads(c.ICC_PROFILE) == [b"profile"]
    assert parsed.writer_version == c.FORMAT_VERSION
    assert parsed.min_reader_version == c.MIN_READER_VERSION
    assert parsed.has_index
    assert [info.type for info in parsed.layout] == [
        "HEAD",
        "DATA",
        "iccp",
        "DATA",
        "DATA",
        "indx",
        "TAIL",
    ]


def test_file_starts_with_signature_and_versions():
    data = container.dumps(image_header(), [])
    assert data[:8] == b"\x8bNCC\r\n\x1a\n"
    assert struct.unpack(">HH", data[8:12]) == (1, 1)


def test_trailing_index_locates_data_chunks_without_reading_them():
    payloads = [b"a" * 10, b"b" * 2000, b"c"]
    data = container.dumps(image_header(), [(c.DATA, p) for p in payloads])
    stream = io.BytesIO(data)
    entries = container.read_index(stream)
    assert [length for _, length in entries] == [10, 2000, 1]
    for (offset, _), payload in zip(entries, payloads, strict=True):
        assert read_chunk_at(stream, offset).payload == payload


def test_file_without_index():
    data = container.dumps(image_header(), [(c.DATA, b"x")], index=False)
    assert container.read_index(io.BytesIO(data)) is None
    parsed = container.loads(data)
    assert not parsed.has_index
    assert parsed.payloads() == [b"x"]


def test_streaming_reader_yields_chunks_before_the_end():
    data = container.dumps(image_header(), [(c.DATA, b"one"), (c.DATA, b"two")])
    reader = Reader(io.BytesIO(data))
    first = next(iter(reader))
    assert first.payload == b"one"
    assert not first.skippable


def test_large_header_is_compressed_and_restored():
    header = image_header(metadata={f"k{i}": "v" * 50 for i in range(200)})
    payload = encode_header(header)
    assert payload[0] == compression.ZSTD
    assert decode_header(payload) == header


def test_unknown_skippable_chunk_is_passed_over():
    data = assemble(chunk(b"zzzz", b"later feature"), chunk(c.DATA, b"d"), TAIL_NO_INDEX)
    parsed = container.loads(data)
    assert parsed.payloads() == [b"d"]
    assert parsed.chunks[0].skippable


def test_unknown_critical_chunk_is_refused():
    data = assemble(chunk(b"ZZZZ", b"needed"), TAIL_NO_INDEX)
    with pytest.raises(ContainerError, match="unknown critical chunk 'ZZZZ'.*newer nccli"):
        container.loads(data)


def test_newer_minimum_reader_version_is_refused_with_a_clear_message():
    data = assemble(TAIL_NO_INDEX, version=(7, 2))
    with pytest.raises(UnsupportedVersionError, match="version 2 or newer.*upgrade nccli"):
        container.loads(data)


def test_newer_writer_with_old_minimum_reader_is_read():
    data = assemble(chunk(b"newf", b"x"), chunk(c.DATA, b"d"), TAIL_NO_INDEX, version=(3, 1))
    parsed = container.loads(data)
    assert parsed.writer_version == 3
    assert parsed.payloads() == [b"d"]


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", TruncatedError, "empty"),
        (b"\x8bNC", TruncatedError, "preamble"),
        (b"GIF89a" + bytes(20), NotAContainerError, "bad signature"),
        (b"\x8bNCC\n\x1a\n" + bytes(20), NotAContainerError, "text mode"),
        (b"\x8bNCC\r\r\n\x1a\r\n" + bytes(20), NotAContainerError, "text mode"),
        (b"\x0bNCC\r\n\x1a\n" + bytes(20), NotAContainerError, "7-bit"),
        (c.SIGNATURE + bytes(8), CorruptError, "preamble checksum"),
        (preamble(), TruncatedError, "before the HEAD"),
        (preamble() + chunk(c.DATA, b"x"), CorruptError, "first chunk is not HEAD"),
        (preamble() + b"\x00\x00", TruncatedError, "inside the chunk"),
    ],
)
def test_broken_beginnings(data, error, message):
    with pytest.raises(error, match=message):
        container.loads(data)


@pytest.mark.parametrize(
    ("chunks", "error", "message"),
    [
        ((), TruncatedError, "before the TAIL"),
        (
            (chunk(c.HEAD, encode_header(image_header())), TAIL_NO_INDEX),
            CorruptError,
            "second HEAD",
        ),
        ((chunk(c.TAIL, b"\x00"),), CorruptError, "wrong size"),
        ((chunk(c.TAIL, struct.pack(">Q", 99)),), CorruptError, "no index"),
        ((TAIL_NO_INDEX + b"junk",), CorruptError, "after the TAIL"),
        ((chunk(c.INDEX, b"\x00"),), CorruptError, "too short"),
        ((chunk(c.INDEX, struct.pack(">I", 2)),), CorruptError, "entry count"),
        (
            (chunk(c.DATA, b"x"), chunk(c.INDEX, struct.pack(">I", 0))),
            CorruptError,
            "does not match",
        ),
        (
            (chunk(c.INDEX, struct.pack(">I", 0)), chunk(c.DATA, b"x")),
            CorruptError,
            "directly followed",
        ),
        ((b"\x00\x00\x00\x01DA1A" + b"x" + b"\x00" * 4,), CorruptError, "invalid chunk type"),
        ((struct.pack(">I4s", c.MAX_CHUNK_LENGTH + 1, c.DATA),), LimitError, "claims"),
        ((chunk(c.DATA, b"abc")[:-2],), TruncatedError, "inside the chunk"),
    ],
)
def test_broken_chunk_sequences(chunks, error, message):
    with pytest.raises(error, match=message):
        container.loads(assemble(*chunks))


def test_checksum_mismatch_names_the_chunk():
    data = bytearray(container.dumps(image_header(), [(c.DATA, b"payload")]))
    data[data.index(b"payload")] ^= 0x01
    with pytest.raises(CorruptError, match="checksum mismatch in DATA chunk at offset"):
        container.loads(bytes(data))


def test_too_many_chunks(monkeypatch):
    monkeypatch.setattr(c, "MAX_CHUNKS", 3)
    data = container.dumps(image_header(), [(c.DATA, b"")] * 5)
    with pytest.raises(LimitError, match="more than 3 chunks"):
        container.loads(data)


@pytest.mark.parametrize(
    ("media", "error", "message"),
    [
        ({"width": 100000, "height": 100000, "mode": "RGB", "bit_depth": 8}, LimitError, "outside"),
        ({"width": 60000, "height": 60000, "mode": "RGB", "bit_depth": 8}, LimitError, "exceeds"),
        ({"width": 0, "height": 5, "mode": "RGB", "bit_depth": 8}, LimitError, "outside"),
        ({"width": 5, "height": 5, "mode": "CMYK", "bit_depth": 8}, CorruptError, "mode"),
        ({"width": 5, "height": 5, "mode": "RGB", "bit_depth": 12}, CorruptError, "bit depth"),
        ({"width": "5", "height": 5, "mode": "RGB", "bit_depth": 8}, CorruptError, "width"),
        ({"width": True, "height": 5, "mode": "RGB", "bit_depth": 8}, CorruptError, "width"),
    ],
)
def test_image_descriptor_is_checked_before_anything_is_allocated(media, error, message):
    data = assemble(TAIL_NO_INDEX, header=image_header(media=media))
    with pytest.raises(error, match=message):
        container.loads(data)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"\x05{}", "unknown encoding"),
        (b"\x00not json", "not valid JSON"),
        (b"\x00\xff\xfe", "not valid JSON"),
        (b"\x00[]", "header must be a dict"),
        (b'\x00{"codec": {}, "modality": "image"}', "media must be a dict"),
        (
            b'\x00{"codec": {"name": "x", "version": 1}, "modality": "smell", "media": {}}',
            "modality",
        ),
        (b"\x01not zstd", "bad zstd"),
        (
            b'\x00{"codec": {"name": "x", "version": 1}, "modality": "video", "media": {},'
            b' "metadata": {"a": 1}}',
            "metadata",
        ),
        (
            b'\x00{"codec": {"name": "x", "version": 1}, "modality": "video", "media": {},'
            b' "model": {"id": 3}}',
            "model.id",
        ),
        (b"\x00" + b"[" * 100000, "not valid JSON"),
    ],
)
def test_bad_headers(payload, message):
    with pytest.raises(CorruptError, match=message):
        decode_header(payload)


def test_header_decompression_bomb_is_refused(monkeypatch):
    import zstandard

    monkeypatch.setattr(c, "MAX_HEADER_LENGTH", 1000)
    bomb = b"\x01" + zstandard.ZstdCompressor().compress(b"{" + b" " * 5000 + b"}")
    with pytest.raises(LimitError, match="decompresses to more than"):
        decode_header(bomb)


def test_oversized_header_is_refused_by_the_writer(monkeypatch):
    monkeypatch.setattr(c, "MAX_HEADER_LENGTH", 100)
    with pytest.raises(LimitError):
        encode_header(image_header(metadata={"k": "v" * 200}))


def test_writer_refuses_reserved_or_invalid_types_and_closed_use():
    writer = container.Writer(io.BytesIO(), image_header())
    for bad in (b"TAIL", b"indx", b"DA7A", b"toolong"):
        with pytest.raises(ValueError):
            writer.add(bad, b"")
    writer.close()
    writer.close()  # closing twice is harmless
    with pytest.raises(ContainerError, match="closed"):
        writer.add(c.DATA, b"")


def test_writer_refuses_oversized_chunk(monkeypatch):
    writer = container.Writer(io.BytesIO(), image_header())
    monkeypatch.setattr(c, "MAX_CHUNK_LENGTH", 4)
    with pytest.raises(LimitError):
        writer.add(c.DATA, b"12345")


def test_read_index_errors():
    good = container.dumps(image_header(), [(c.DATA, b"x")])
    with pytest.raises(TruncatedError):
        container.read_index(io.BytesIO(good[:20]))
    no_tail = good[:-20] + chunk(c.DATA, b"abcdefgh")
    with pytest.raises(CorruptError, match="does not end with a TAIL"):
        container.read_index(io.BytesIO(no_tail))
    outside = good[:-20] + chunk(c.TAIL, struct.pack(">Q", 10**9))
    with pytest.raises(CorruptError, match="outside the file"):
        container.read_index(io.BytesIO(outside))
    data_offset = container.loads(good).layout[1].offset
    to_data = good[:-20] + chunk(c.TAIL, struct.pack(">Q", data_offset))
    with pytest.raises(CorruptError, match="not point to an index"):
        container.read_index(io.BytesIO(to_data))
    bad_entry = chunk(c.INDEX, struct.pack(">IQQ", 1, 5, 1))
    data = assemble(bad_entry)
    data += chunk(c.TAIL, struct.pack(">Q", len(data) - len(bad_entry)))
    with pytest.raises(CorruptError, match="outside the data area"):
        container.read_index(io.BytesIO(data))
    with pytest.raises(CorruptError, match="no valid chunk"):
        read_chunk_at(io.BytesIO(b"\x00" * 8 + b"\xff" * 12), 8)
    flipped = bytearray(good)
    flipped[-6] ^= 1
    with pytest.raises(CorruptError, match="checksum"):
        container.read_index(io.BytesIO(bytes(flipped)))


def test_parse_index_round_trip():
    payload = struct.pack(">I", 2) + struct.pack(">QQ", 16, 3) + struct.pack(">QQ", 31, 0)
    assert parse_index(payload) == [(16, 3), (31, 0)]

"""The real rate of nccli's EnCodec files against fixed ceil(log2 K)-bit packing of their codes.

    python scripts/rate_encodec.py tests/fixtures/audio/speech.flac [MORE AUDIO ...] \
        [--model encodec-24khz] [--bitrates 1.5 3 6 12 24] [--json FILE]

Needs the model's weights in the zoo (`nccli models pull encodec-24khz`). Encodes every file
at every bitrate with nccli (real .ncc files), reads the DATA payloads back and prints, per
file and bitrate: the nominal kbit/s (codebooks x log2 K bits x frame rate), the whole
file's kbit/s, the entropy-coded codes' kbit/s, and their saving against packing every code
in ceil(log2 K) bits. Entropy coding is lossless, so the decoded audio is the same either way
(the coded codes decode to the encoder's, tested in tests/test_encodec.py). The saving
depends on the model's code statistics: measure it with the published weights, as random
ones say nothing about them.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from nccli import api
from nccli.codecs.audio.encodec import read_payload_head
from nccli.container import loads
from nccli.media.audio import Audio, read_audio
from nccli.models.audio import SPECS


@dataclass(frozen=True)
class Rate:
    """One file at one bitrate: kbit/s nominal, of the whole file and of the coded codes."""

    file: str
    bitrate: float
    codebooks: int
    seconds: float
    nominal_kbps: float
    file_kbps: float
    codes_kbps: float
    packed_kbps: float

    @property
    def saving(self) -> float:
        """How much smaller the coded codes are than packed ones (0.1: 10 %)."""
        return 1 - self.codes_kbps / self.packed_kbps


def measure(name: str, audio: Audio, model: str, bitrate: float) -> Rate:
    """Encode ``audio`` (from file ``name``) with ``model`` at ``bitrate``; its rates."""
    spec = SPECS[model]
    seconds = len(audio.samples) / audio.sample_rate
    data = api.encode(audio, model, bitrate=bitrate)
    parsed = loads(data)
    codebooks = parsed.header.fields["codebooks"]
    coded_bytes = frames = 0
    for chunk in parsed.chunks:
        if chunk.type == b"DATA":
            count, _, start = read_payload_head(chunk.payload, spec)
            frames += count
            coded_bytes += len(chunk.payload) - start
    packed_bits = frames * codebooks * math.ceil(math.log2(spec.bins))
    return Rate(
        file=name,
        bitrate=bitrate,
        codebooks=codebooks,
        seconds=seconds,
        nominal_kbps=codebooks * spec.kbps_per_codebook,
        file_kbps=len(data) * 8 / seconds / 1000,
        codes_kbps=coded_bytes * 8 / seconds / 1000,
        packed_kbps=packed_bits / seconds / 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path, nargs="+")
    parser.add_argument("--model", default="encodec-24khz", choices=sorted(SPECS))
    parser.add_argument("--bitrates", type=float, nargs="+")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    bitrates = args.bitrates or SPECS[args.model].bandwidths

    rates = []
    for path in args.audio:
        audio = read_audio(path)
        rates += [measure(path.name, audio, args.model, bitrate) for bitrate in bitrates]
    print(f"{args.model}: kbit/s of each file (nominal, whole .ncc, coded codes, packed codes)")
    print(
        f"{'file':32}{'bitrate':>8}{'nominal':>9}{'file':>9}{'codes':>9}{'packed':>9}{'saving':>8}"
    )
    for rate in rates:
        print(
            f"{rate.file[:31]:32}{rate.bitrate:8g}{rate.nominal_kbps:9.2f}{rate.file_kbps:9.2f}"
            f"{rate.codes_kbps:9.2f}{rate.packed_kbps:9.2f}{rate.saving:8.1%}"
        )
    for bitrate in bitrates:
        mine = [rate for rate in rates if rate.bitrate == bitrate]
        codes = sum(rate.codes_kbps * rate.seconds for rate in mine)
        packed = sum(rate.packed_kbps * rate.seconds for rate in mine)
        print(f"all files at {bitrate:g} kbit/s: codes {1 - codes / packed:.1%} under packing")
    if args.json:
        rows = [asdict(rate) | {"saving": rate.saving} for rate in rates]
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Run nccli's EnCodec beside the `encodec` package with the same random weights; print JSON.

Run by tests/test_compat_encodec.py in a process whose path holds the `encodec`
installation made by `make install` (.venv/compat) and tests/compat/stubs (torchaudio).
For each published configuration and bandwidth it reports whether the codes are identical
and the largest difference between the decoded signals, for nccli's whole-signal coding
and for its streams fed in uneven chunks.
"""

from __future__ import annotations

import json
import warnings

import torch
from encodec import EncodecModel

from nccli.models.audio import SPECS, Encodec
from nccli.models.audio.coding import CodeDecoder, CodeEncoder
from nccli.zoo.encodec import load_into

warnings.filterwarnings("ignore")
BUILDERS = {
    "encodec-24khz": EncodecModel.encodec_model_24khz,
    "encodec-48khz": EncodecModel.encodec_model_48khz,
}
#: Seconds of test signal: more than two of the 48 kHz model's segments, not a whole frame.
SECONDS = 2.3


def random_models(name: str, seed: int) -> tuple[EncodecModel, Encodec]:
    """EnCodec with random weights (gains, directions and codebooks) and nccli's copy."""
    torch.manual_seed(seed)
    reference = BUILDERS[name](pretrained=False)
    with torch.no_grad():
        for key, parameter in reference.named_parameters():
            if key.endswith("weight_g"):
                parameter.mul_(1 + 0.1 * torch.rand_like(parameter))
        for layer in reference.quantizer.vq.layers:
            layer._codebook.embed.normal_(std=0.1)
    ours = Encodec(SPECS[name]).eval()
    load_into(ours, reference.state_dict())
    return reference, ours


def streamed(model: Encodec, x: torch.Tensor, codebooks: int, chunk: int):
    encoder, decoder = CodeEncoder(model, codebooks), CodeDecoder(model)
    frames = []
    for start in range(0, x.shape[-1], chunk):
        frames += encoder.push(x[..., start : start + chunk])
    frames += encoder.flush()
    parts = [decoder.push(frame) for frame in frames] + [decoder.flush()]
    return frames, torch.cat([part for part in parts if part is not None], dim=-1)


def compare(name: str, seed: int) -> list[dict]:
    reference, ours = random_models(name, seed)
    spec = SPECS[name]
    x = 0.1 * torch.randn(1, spec.channels, int(SECONDS * spec.sample_rate))
    rows = []
    for bandwidth in spec.bandwidths:
        reference.set_target_bandwidth(bandwidth)
        codebooks = spec.codebooks_for(bandwidth)
        with torch.no_grad():
            theirs = reference.encode(x)
            their_audio = reference.decode(theirs)
            mine = ours.encode(x, codebooks)
            my_audio = ours.decode(mine)
        their_codes = [codes.transpose(0, 1) for codes, _ in theirs]
        stream_frames, stream_audio = streamed(ours, x, codebooks, chunk=7919)
        rows.append(
            {
                "model": name,
                "bandwidth": bandwidth,
                "codebooks": codebooks,
                "their_codebooks": int(theirs[0][0].shape[1]),
                "codes_equal": _same_codes(their_codes, [c for c, _ in mine]),
                "stream_codes_equal": _same_codes(their_codes, [c for c, _ in stream_frames]),
                "scales_equal": all(
                    (a is None and b is None) or bool(torch.equal(a, b))
                    for (_, a), (_, b) in zip(theirs, mine, strict=True)
                ),
                "audio_max_diff": float((my_audio - their_audio).abs().max()),
                "stream_audio_max_diff": float((stream_audio - their_audio).abs().max()),
                "audio_peak": float(their_audio.abs().max()),
                "lengths": [their_audio.shape[-1], my_audio.shape[-1], stream_audio.shape[-1]],
            }
        )
    return rows


def _same_codes(theirs: list[torch.Tensor], mine: list[torch.Tensor]) -> bool:
    joined = [torch.cat(codes, dim=-1) for codes in (theirs, mine)]
    return joined[0].shape == joined[1].shape and bool(torch.equal(*joined))


if __name__ == "__main__":
    print(json.dumps([row for name in BUILDERS for row in compare(name, seed=1)]))

"""Real-time factors of nccli's EnCodec 24 kHz against the `encodec` package, plus Opus.

    make bench-audio            # or, with encodec on the path (see the Makefile):
    python scripts/bench_audio.py [FILE.wav] --seconds 30 --bitrate 6 [--device cuda]

Both EnCodec implementations get the same random weights (published weights need a
network; speed does not depend on their values). Each measurement runs in a fresh process
so that its peak resident memory is its own: model encode and decode (audio to codes and
back; nccli through its streams, chunk by chunk), nccli's whole `encode_audio` and
`decode_audio` (model plus entropy coding, to and from .ncc bytes), and Opus through the
same functions. Prints seconds, real-time factor (seconds of work per second of audio: lower
is faster), nccli's speed relative to encodec measured in the same run, and peak RSS.
With --device cuda both EnCodec implementations run on the GPU (nccli's entropy coding and
Opus stay on the CPU) and every timing waits for the GPU to finish.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile
import torch

RATE = 24_000
STEPS = ("encodec-encode", "encodec-decode", "nccli-encode", "nccli-decode")
FILE_STEPS = ("nccli-file-encode", "nccli-file-decode", "opus-file-encode", "opus-file-decode")


def test_signal(seconds: float) -> np.ndarray:
    """Voiced bursts with a gliding pitch and a little noise, mono at 24 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 0.7 * t)) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None) ** 2
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return (0.2 * voice * envelope + noise).astype(np.float32)


def models(codebooks: int):
    """The `encodec` model and nccli's, with the same random weights."""
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "compat"))
    from compare_encodec import random_models

    reference, ours = random_models("encodec-24khz", seed=0)
    reference.set_target_bandwidth(codebooks * 0.75)
    return reference, ours


def run_step(
    step: str, audio_path: Path, work: Path, kbps: float, device: torch.device
) -> dict[str, float]:
    """One measurement in this process: seconds of work and peak RSS in MB."""
    from nccli.audio import decode_audio, encode_audio, read_decoded
    from nccli.media.audio import read_audio
    from nccli.models.audio.coding import CodeDecoder, CodeEncoder

    audio = read_audio(audio_path)
    x = torch.from_numpy(audio.samples.T.copy())[None].to(device)
    codebooks = int(kbps / 0.75)
    start = time.perf_counter()
    if step.endswith("file-encode"):
        codec = "opus" if step.startswith("opus") else "encodec-24khz"
        start = time.perf_counter()
        with open(work / f"{codec}.ncc", "wb") as out:
            encode_audio(audio, out, codec, bitrate=kbps)
    elif step.endswith("file-decode"):
        codec = "opus" if step.startswith("opus") else "encodec-24khz"
        data = (work / f"{codec}.ncc").read_bytes()
        start = time.perf_counter()
        read_decoded(decode_audio(io.BytesIO(data)))
    else:
        reference, ours = models(codebooks)
        reference.to(device)
        ours.to(device)
        with torch.no_grad():
            if step == "encodec-encode":
                start = time.perf_counter()
                reference.encode(x)
            elif step == "encodec-decode":
                frames = reference.encode(x)
                start = time.perf_counter()
                reference.decode(frames)
            elif step == "nccli-encode":
                start = time.perf_counter()
                _streamed_codes(CodeEncoder(ours, codebooks), x)
            else:
                frames = _streamed_codes(CodeEncoder(ours, codebooks), x)
                start = time.perf_counter()
                decoder = CodeDecoder(ours)
                [decoder.push(frame) for frame in frames]
                decoder.flush()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _streamed_codes(encoder, x: torch.Tensor, chunk: int = RATE) -> list:
    frames = []
    for start in range(0, x.shape[-1], chunk):
        frames += encoder.push(x[..., start : start + chunk])
    return frames + encoder.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path, nargs="?", help="a WAV file (default: synthetic)")
    parser.add_argument("--seconds", type=float, default=30.0, help="synthetic signal length")
    parser.add_argument("--bitrate", type=float, default=6.0, help="kbit/s (1.5 to 24)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--step", choices=STEPS + FILE_STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        device = torch.device(args.device)
        print(json.dumps(run_step(args.step, args.audio, args.work, args.bitrate, device)))
        return
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        path = args.audio
        if path is None:
            path = work / "signal.wav"
            soundfile.write(path, test_signal(args.seconds), RATE, subtype="PCM_16")
        _store_weights(work)
        duration = soundfile.info(str(path)).duration
        results = {}
        for step in _steps():
            command = [sys.executable, __file__, str(path), "--step", step, "--work", str(work)]
            command += ["--bitrate", str(args.bitrate), "--device", args.device]
            env = {**os.environ, "NCCLI_HOME": str(work), "NCCLI_DEVICE": args.device}
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode:
                sys.exit(f"{step} failed:\n{done.stderr}")
            results[step] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{duration:.1f} s of audio, {args.bitrate:g} kbit/s, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.device}"
    )
    print(f"{'step':<20}{'seconds':>9}{'RTF':>8}{'peak RSS MB':>13}")
    for step, row in results.items():
        rtf = row["seconds"] / duration
        print(f"{step:<20}{row['seconds']:>9.2f}{rtf:>8.3f}{row['rss_mb']:>13.0f}")
    for kind in ("encode", "decode"):
        ratio = results[f"encodec-{kind}"]["seconds"] / results[f"nccli-{kind}"]["seconds"]
        print(f"nccli {kind} speed / encodec's: {ratio:.2f}x")


def _steps() -> tuple[str, ...]:
    """Every step, less Opus's where PyAV is missing (as on a lent GPU machine)."""
    if importlib.util.find_spec("av") is not None:
        return STEPS + FILE_STEPS
    print("PyAV is not installed: no Opus steps")
    return STEPS + tuple(step for step in FILE_STEPS if not step.startswith("opus"))


def _store_weights(home: Path) -> None:
    """The same random weights in a store, for the whole-file steps."""
    from safetensors.torch import save_file

    _, ours = models(8)
    (home / "models").mkdir()
    tensors = {k: v.contiguous() for k, v in ours.state_dict().items()}
    save_file(
        tensors, home / "models" / "encodec-24khz.safetensors", {"architecture": "encodec-24khz"}
    )


if __name__ == "__main__":
    main()

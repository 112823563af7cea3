"""Train the embedded variable-rate image model (nc-photo) on the photograph set.

    python scripts/data/photos.py                      # once: data/photos/{train,validation}
    python scripts/train_image.py --minutes 9 [--device cuda] [--state runs/photo]

One network for all rates: every training image gets a random rate level (an integer level
three times in four, a fractional one otherwise) and its lambda, interpolated log-linearly
between LAMBDAS; the loss is lambda * 255^2 * MSE + bits per pixel. The hyper-synthesis runs
on the exact path's integer grids (nccli.models.exact.simulate), so what is trained is what
decodes identically everywhere. On CUDA the transforms run under bf16 autocast (entropy
models and GDN in float32). What is validated and exported is an exponential moving average
of the weights (--average-decay), which smooths out the step-to-step noise of the optimiser:
the raw weights of one session moved by up to 0.7 dB of validation PSNR within 1,400 steps.

Resuming: with --state DIR the full training state (fp32 weights, their average, optimizer
moments, step)
is saved there as safetensors at the end of the run and picked up by the next; without one
(or when DIR holds none), training starts from --init, by default the shipped weights, so
each run improves the committed model. --export writes the fp16 weights that ship.
Validation RD (estimated rate, PSNR) at every level is printed and appended to
DIR/log.jsonl.

--compile runs the training pass through torch.compile (the model traces as one graph):
inductor, reduce-overhead (inductor with CUDA graphs, against the kernel-launch cost that
bounds a step on a GPU; docs/training.md) or aot_eager (traced, not compiled: a check of the
trace that needs no C++ compiler).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nccli.models.heap import reused_heap
from nccli.models.image.variable_rate import LAMBDAS, GainedMeanScaleHyperprior, lambda_at
from nccli.zoo import embedded

ROOT = Path(__file__).resolve().parents[1]
NAME = "nc-photo"
#: ITU-R BT.601 luma weights, for the patches turned grey.
LUMA = (0.299, 0.587, 0.114)
#: --compile's choices: torch.compile's keyword arguments for each.
COMPILE = {
    "inductor": {},
    "reduce-overhead": {"mode": "reduce-overhead"},
    "aot_eager": {"backend": "aot_eager"},
}


def load_images(directory: Path, device: torch.device) -> list[torch.Tensor]:
    """Every PNG of a directory as a uint8 (3, H, W) tensor."""
    paths = sorted(directory.glob("*.png"))
    if not paths:
        raise SystemExit(f"no PNG files in {directory}: run scripts/data/photos.py first")
    return [
        torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).to(device)
        for p in paths
    ]


def sample_batch(
    images: list[torch.Tensor], batch: int, size: int, rng: torch.Generator, grey: float = 0.0
) -> torch.Tensor:
    """Random size x size patches with random flips, as floats in [0, 1]; a share ``grey``
    of them turned to grey (luma, rounded to 8 bits, in all three channels)."""
    patches = []
    for index in torch.randint(len(images), (batch,), generator=rng).tolist():
        image = images[index]
        top = int(torch.randint(image.shape[1] - size + 1, (1,), generator=rng))
        left = int(torch.randint(image.shape[2] - size + 1, (1,), generator=rng))
        patch = image[:, top : top + size, left : left + size]
        if torch.rand((), generator=rng) < 0.5:
            patch = patch.flip(2)
        if torch.rand((), generator=rng) < 0.5:
            patch = patch.flip(1)
        if torch.rand((), generator=rng) < grey:
            luma = torch.tensor(LUMA, device=patch.device)[:, None, None] * patch
            patch = luma.sum(0).round().to(patch.dtype).expand_as(patch)
        patches.append(patch)
    return torch.stack(patches).float() / 255


def sample_levels(batch: int, rng: torch.Generator) -> torch.Tensor:
    """Integer levels for three images in four, uniform fractional levels for the rest."""
    top = len(LAMBDAS) - 1
    integer = torch.randint(len(LAMBDAS), (batch,), generator=rng).float()
    fractional = torch.rand(batch, generator=rng) * top
    return torch.where(torch.rand(batch, generator=rng) < 0.75, integer, fractional)


def bits_per_pixel(likelihoods: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
    """Per image: -log2 of all likelihoods over the pixel count."""
    total = sum(-torch.log2(v).flatten(1).sum(1) for v in likelihoods.values())
    return total / pixels


@torch.no_grad()
def validate(model: GainedMeanScaleHyperprior, images: list[torch.Tensor]) -> list[dict]:
    """Mean estimated bpp and PSNR (8-bit RGB) of the validation photos at each level."""
    model.eval()
    rows = []
    for level in range(len(LAMBDAS)):
        bpps, psnrs = [], []
        for image in images:
            x = image[None].float() / 255
            pad = (0, -x.shape[3] % 64, 0, -x.shape[2] % 64)
            out = model(F.pad(x, pad, mode="replicate"), torch.tensor([level]), noise=False)
            x_hat = out.x_hat[..., : x.shape[2], : x.shape[3]].clamp(0, 1)
            mse = F.mse_loss(torch.round(x_hat * 255), image[None].float())
            psnrs.append(float(10 * torch.log10(255**2 / mse)))
            bpps.append(float(bits_per_pixel(out.likelihoods, x.shape[2] * x.shape[3])))
        rows.append({"level": level, "bpp": np.mean(bpps), "psnr": np.mean(psnrs)})
    model.train()
    return rows


class WeightAverage:
    """Exponential moving average of a model's parameters; buffers follow the model."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        averages, currents = list(self.model.parameters()), list(model.parameters())
        torch._foreach_lerp_(averages, currents, 1 - self.decay)
        torch._foreach_copy_(list(self.model.buffers()), list(model.buffers()))


def save_state(
    directory: Path, model, average: WeightAverage, optimizer, aux_optimizer, step: int
) -> None:
    """Full training state as safetensors (no pickle): weights, their average, Adam moments,
    step."""
    tensors = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    tensors |= {f"average.{k}": v.detach().cpu() for k, v in average.model.state_dict().items()}
    for prefix, opt in (("opt", optimizer), ("aux", aux_optimizer)):
        for index, state in opt.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"{prefix}.{index}.{key}"] = torch.atleast_1d(torch.as_tensor(value).cpu())
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(directory / "state.safetensors"),
        metadata={"step": str(step)},
    )


def load_state(
    directory: Path, model, average: WeightAverage, optimizer, aux_optimizer
) -> int | None:
    """Restore save_state()'s state; the step reached, or None when there is none. A state
    saved before weights were averaged starts the average at its weights."""
    path = directory / "state.safetensors"
    if not path.is_file():
        return None
    tensors = load_file(path)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(weights)
    averaged = {k[8:]: v for k, v in tensors.items() if k.startswith("average.")}
    average.model.load_state_dict(averaged or weights)
    for prefix, opt in (("opt", optimizer), ("aux", aux_optimizer)):
        saved = opt.state_dict()
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(prefix + "."):
                _, index, name = key.split(".", 2)
                param = saved["param_groups"][0]["params"][int(index)]
                state.setdefault(param, {})[name] = value
        for values in state.values():
            values["step"] = values["step"].reshape(())
        opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    with safe_open(str(path), framework="pt") as handle:
        return int(handle.metadata()["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "photos")
    parser.add_argument("--init", type=Path, default=embedded.path_of(NAME))
    parser.add_argument("--state", type=Path, help="directory of the resumable training state")
    parser.add_argument("--export", type=Path, default=embedded.path_of(NAME))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--minutes", type=float, default=9.0, help="stop after this long")
    parser.add_argument("--steps", type=int, default=10**9, help="or after this many steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument(
        "--average-decay", type=float, default=0.999,
        help="decay of the weight average that is validated and exported (0: the raw weights)",
    )  # fmt: skip
    parser.add_argument(
        "--grey", type=float, default=0.1,
        help="share of training patches turned grey (the photos hold almost no grey ones)",
    )  # fmt: skip
    parser.add_argument("--N", type=int, default=128)
    parser.add_argument("--M", type=int, default=192)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's choice)")
    parser.add_argument("--compile", choices=COMPILE, help="torch.compile the training pass")
    parser.add_argument("--validate-every", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.average_decay < 1:
        parser.error("--average-decay must lie in [0, 1)")
    if not 0 <= args.grey <= 1:
        parser.error("--grey must lie in [0, 1]")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True

    info: dict[str, str] = {"steps": "0"}
    if args.init.is_file():
        model, info = embedded.read(args.init)
        print(f"initialised from {args.init} ({info.get('steps')} steps)")
    else:
        model = GainedMeanScaleHyperprior(args.N, args.M, len(LAMBDAS))
        print(f"initialised at random: N={args.N} M={args.M}")
    model = model.to(device).train()
    aux_params = [model.entropy_bottleneck.quantiles]
    main_params = [p for p in model.parameters() if p is not aux_params[0]]
    optimizer = torch.optim.Adam(main_params, lr=args.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=1e-3)
    average = WeightAverage(model, args.average_decay)
    done = int(info.get("steps", "0"))
    resumed = (
        load_state(args.state, model, average, optimizer, aux_optimizer) if args.state else None
    )
    if resumed is not None:
        done = resumed
        print(f"resumed the training state in {args.state} at step {done}")
    for group in optimizer.param_groups:
        group["lr"] = args.lr

    train = load_images(args.data / "train", device)
    validation = load_images(args.data / "validation", device)
    forward = (
        torch.compile(model, fullgraph=True, **COMPILE[args.compile]) if args.compile else model
    )
    rng = torch.Generator().manual_seed(args.seed + done)
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda")
    log = (args.state or ROOT / "runs") / "log.jsonl"
    started, step = time.monotonic(), 0
    mark = started  # when the last 100 steps began: their rate leaves out validating
    sums = torch.zeros(3, device=device)  # loss, bpp, PSNR: read every 100 steps, not synced
    # On a CPU each step frees and allocates the same large tensors: keep them in the heap.
    heap = reused_heap() if device.type == "cpu" else contextlib.nullcontext()
    with heap:
        while step < args.steps and time.monotonic() - started < args.minutes * 60:
            x = sample_batch(train, args.batch, args.patch, rng, args.grey).to(device)
            levels = sample_levels(args.batch, rng).to(device)
            with autocast:
                out = forward(x, levels)
            mse = F.mse_loss(out.x_hat.float(), x, reduction="none").flatten(1).mean(1)
            bpp = bits_per_pixel(out.likelihoods, args.patch**2)
            loss = (lambda_at(levels) * 255**2 * mse + bpp).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(main_params, 1.0)
            optimizer.step()
            aux_optimizer.zero_grad(set_to_none=True)
            model.entropy_bottleneck.quantile_loss().backward()
            aux_optimizer.step()
            average.update(model)
            step += 1
            with torch.no_grad():
                sums += torch.stack([loss, bpp.mean(), -10 * torch.log10(mse.mean())])
            if step % 100 == 0:
                mean_loss, mean_bpp, mean_psnr = (sums / 100).tolist()
                now = time.monotonic()
                print(
                    f"step {done + step}: loss {mean_loss:.3f} bpp {mean_bpp:.3f}"
                    f" psnr {mean_psnr:.2f} ({100 / (now - mark):.1f} steps/s)",
                    flush=True,
                )
                sums.zero_()
                mark = now
            if step % args.validate_every == 0:
                report(average.model, validation, done + step, log)
                mark = time.monotonic()
    done += step
    if args.state:
        save_state(args.state, model, average, optimizer, aux_optimizer, done)
    report(average.model, validation, done, log)
    model = average.model.cpu().eval()
    model.update_tables()
    info = {"steps": str(done), "lambdas": json.dumps(LAMBDAS), "data": "scripts/data/photos.py"}
    embedded.export(model, args.export, info)
    print(f"exported {args.export} after {done} steps")


def report(model, validation: list[torch.Tensor], step: int, log: Path) -> None:
    rows = validate(model, validation)
    text = "  ".join(f"L{r['level']} {r['bpp']:.3f}/{r['psnr']:.2f}" for r in rows)
    print(f"validation at step {step} (bpp/PSNR): {text}", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(json.dumps({"step": step, "time": time.time(), "levels": rows}) + "\n")
    if any(math.isnan(r["psnr"]) for r in rows):
        raise SystemExit("training diverged (NaN)")


if __name__ == "__main__":
    main()

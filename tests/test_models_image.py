"""Image models: shapes, coding round trips and checkpoint key mapping (no upstream needed)."""

from __future__ import annotations

import pytest
import torch

from nccli.models.image import ARCHITECTURES
from nccli.models.layers import GDN
from nccli.zoo.compressai import load_into, map_state_dict


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_compress_decompress_matches_the_forward_reconstruction(name):
    torch.manual_seed(0)
    model = ARCHITECTURES[name](16, 16 if name == "cheng2020-anchor" else 24).eval()
    model.update_tables()
    x = torch.rand(1, 3, 128, 192)
    chunks, shape = model.compress(x)
    assert len(chunks) == (1 if name == "bmshj2018-factorized" else 2)
    x_hat = model.decompress(chunks, shape)
    assert x_hat.shape == x.shape
    if name == "mbt2018-mean":  # means come from the exact path: compare with those
        with torch.no_grad():
            y = model.g_a(x)
            z_hat = model.entropy_bottleneck.quantize(model.h_a(y), noise=False)
            _, means = model.predict_parameters(z_hat, exact=True)
            expected = model.g_s(torch.round(y - means) + means).clamp(0, 1)
    elif name in (
        "mbt2018",
        "cheng2020-anchor",
    ):  # means depend on the decoded context: within half a step of y
        with torch.no_grad():
            y_hat = model.decode_latents(chunks, shape)
            assert (y_hat - model.g_a(x)).abs().max() <= 0.5 + 1e-5
            expected = model.g_s(y_hat).clamp(0, 1)
    else:
        expected = model(x).x_hat.clamp(0, 1)
    assert torch.allclose(x_hat, expected, atol=1e-6)
    assert set(model(x).likelihoods) == ({"y"} if len(chunks) == 1 else {"y", "z"})


def test_the_codec_names_every_architecture():
    from nccli.codecs.image.neural import ARCHITECTURES as NAMED

    assert set(NAMED) == set(ARCHITECTURES)


def test_training_mode_uses_noise():
    torch.manual_seed(0)
    model = ARCHITECTURES["mbt2018-mean"](16, 24)
    x = torch.rand(1, 3, 64, 64)
    first, second = model(x, noise=True), model(x, noise=True)
    assert not torch.equal(first.x_hat, second.x_hat)
    loss = sum(-torch.log2(v).sum() for v in first.likelihoods.values())
    loss.backward()
    assert model.g_a[0].weight.grad is not None


def test_gdn_and_its_inverse():
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    x = torch.randn(2, 4, 8, 8)
    # With the initial identity-like parameters, y = x / sqrt(1 + 0.1 x^2) per channel.
    assert torch.allclose(gdn(x), x / torch.sqrt(1 + 0.1 * x * x), atol=1e-5)
    assert torch.allclose(igdn(x), x * torch.sqrt(1 + 0.1 * x * x), atol=1e-5)


def test_old_compressai_key_names_are_mapped():
    model = ARCHITECTURES["bmshj2018-factorized"](16, 24)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("entropy_bottleneck.table_"):
            continue
        key = key.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrices.")
        key = key.replace("entropy_bottleneck.biases.", "entropy_bottleneck._bias")
        state[key] = value
    state["entropy_bottleneck._quantized_cdf"] = torch.zeros(3)
    state["g_a.1.beta_reparam.lower_bound.bound"] = torch.tensor(1.0)
    mapped = map_state_dict(state)
    assert "entropy_bottleneck.matrices.0" in mapped and "entropy_bottleneck.biases.0" in mapped
    assert not any("quantized_cdf" in k or "lower_bound" in k for k in mapped)
    fresh = ARCHITECTURES["bmshj2018-factorized"](16, 24)
    load_into(fresh, state)
    assert fresh.entropy_bottleneck.table_counts.numel() > 0


def test_mismatched_checkpoint_is_refused_with_the_keys():
    small = ARCHITECTURES["bmshj2018-hyperprior"](16, 24).state_dict()
    with pytest.raises(ValueError, match="does not fit"):
        load_into(ARCHITECTURES["bmshj2018-factorized"](16, 24), small)
    with pytest.raises(ValueError, match=r"g_a.0.weight is \(16, 3, 5, 5\), the model has \(32"):
        load_into(ARCHITECTURES["bmshj2018-hyperprior"](32, 24), small)

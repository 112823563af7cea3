"""The exact entropy-parameter path: the same integers whatever the numeric set-up."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES

from nccli.entropy import coder
from nccli.models import exact
from nccli.models.exact import ACTIVATION_BITS, ExactSequential, cached, simulate
from nccli.models.image import (
    Cheng2020Anchor,
    JointAutoregressiveHyperprior,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from nccli.models.image.variable_rate import GainedMeanScaleHyperprior


@pytest.fixture(params=[ScaleHyperprior, MeanScaleHyperprior, GainedMeanScaleHyperprior])
def model(request):
    torch.manual_seed(0)
    network = request.param(32, 48).eval()
    with torch.no_grad():  # a less regular network than the initial one
        for parameter in network.h_s.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    network.update_tables()
    return network


def hyper_latents(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.round(torch.randn(2, 32, 5, 7) * 4) + 0.37


def test_exact_path_is_close_to_the_float_path(model):
    z_hat = hyper_latents()
    with torch.no_grad():
        reference = model.h_s(z_hat)
    exact = ExactSequential(model.h_s)(z_hat)
    assert exact.shape == reference.shape
    assert (exact - reference).abs().max().item() < 64 * 2.0**-ACTIVATION_BITS


def test_exact_path_ignores_threads_memory_format_dtype_and_order(model):
    z_hat = hyper_latents()
    baseline = ExactSequential(model.h_s)(z_hat)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = ExactSequential(model.h_s)(z_hat)
    finally:
        torch.set_num_threads(threads)
    channels_last = ExactSequential(model.h_s)(z_hat.contiguous(memory_format=torch.channels_last))
    as_double = ExactSequential(model.h_s)(z_hat.double())
    one_by_one = torch.cat([ExactSequential(model.h_s)(z_hat[i : i + 1]) for i in range(2)])
    for other in (single, channels_last, as_double, one_by_one):
        assert torch.equal(other, baseline)


def test_summation_order_does_not_matter():
    """Reversing the order of input channels (so of every dot product) changes nothing."""
    torch.manual_seed(1)
    network = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 5, padding=2), torch.nn.LeakyReLU())
    x = torch.randn(1, 8, 9, 9) * 50
    flipped = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 5, padding=2), torch.nn.LeakyReLU())
    with torch.no_grad():
        flipped[0].weight.copy_(network[0].weight.flip(1))
        flipped[0].bias.copy_(network[0].bias)
    assert torch.equal(ExactSequential(network)(x), ExactSequential(flipped)(x.flip(1)))


@pytest.mark.parametrize("chunk", [1 << 14, 5])
@pytest.mark.parametrize(
    "activation", [torch.nn.ReLU(), torch.nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.0)]
)
def test_linear_layers_compute_what_1x1_convolutions_do(activation, chunk, monkeypatch):
    """Linear layers (on rows or on columns, in chunks of any size): the same integers as the
    equivalent 1x1 convolutions (a separate implementation)."""
    monkeypatch.setattr(exact, "ROWS_PER_CHUNK", chunk)
    torch.manual_seed(2)
    linear = torch.nn.Sequential(torch.nn.Linear(21, 16), activation, torch.nn.Linear(16, 2))
    conv = torch.nn.Sequential(torch.nn.Conv2d(21, 16, 1), activation, torch.nn.Conv2d(16, 2, 1))
    with torch.no_grad():
        for source, target in ((linear[0], conv[0]), (linear[2], conv[2])):
            target.weight.copy_(source.weight[:, :, None, None])
            target.bias.copy_(source.bias)
    x = torch.randn(7, 9, 21) * 3
    expected = ExactSequential(conv)(x.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    assert torch.equal(ExactSequential(linear)(x), expected)
    columns = ExactSequential(linear).on_columns(x.reshape(-1, 21).T)
    assert torch.equal(columns.T.reshape(7, 9, 2).float(), expected)


def _coarse_linear(inputs: int, outputs: int, places: int) -> torch.nn.Linear:
    """A Linear layer whose weights and bias lie on a grid of 2**-places (as nc-overfit's
    quantized ARM's do)."""
    layer = torch.nn.Linear(inputs, outputs)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.round(parameter * 2**places) / 2**places)
    return layer


@pytest.mark.parametrize("chunk", [1 << 14, 5])
@pytest.mark.parametrize("largest", [64, 2**20])  # the first layer in float32, or not
def test_integer_columns_give_what_on_columns_gives(chunk, largest, monkeypatch):
    """Integer inputs (no quantization): the same integers as on_columns, in activation
    units, whether the first layer's sums fit float32 or not."""
    monkeypatch.setattr(exact, "ROWS_PER_CHUNK", chunk)
    torch.manual_seed(3)
    layers = _coarse_linear(9, 16, 7), torch.nn.ReLU(), _coarse_linear(16, 16, 7), torch.nn.ReLU()
    stack = ExactSequential(torch.nn.Sequential(*layers, _coarse_linear(16, 2, 7)))
    assert (largest <= stack.stack.integer_first.narrow_inputs) == (largest == 64)
    x = torch.randint(-64, 65, (9, 40)).float()
    x[:, ::3] = 0
    expected = stack.on_columns(x) * 2**ACTIVATION_BITS
    assert torch.equal(stack.on_integer_columns(x, largest), expected)


def test_finest_places_read_each_rows_finest_binary_place():
    matrix = torch.tensor(
        [[0.5, 0.25, 3.0], [0.0, 0.0, 0.0], [4.0, -8.0, 0.0], [-0.125, 0.0, 1.5 * 2.0**-20]],
        dtype=torch.float64,
    )
    assert exact._finest_places(matrix.numpy()).tolist() == [2, 0, 0, 21]


@pytest.mark.parametrize("bits", [ACTIVATION_BITS, 6])
def test_float32_layers_give_what_float64_gives(bits, monkeypatch):
    """Layers whose sums fit float32's integers run in float32 (the coarse weights of a
    quantized ARM let them), others in float64: the same integers as float64 throughout."""
    torch.manual_seed(5)
    network = torch.nn.Sequential(
        _coarse_linear(13, 16, 7), torch.nn.ReLU(),
        _coarse_linear(16, 16, 7), torch.nn.ReLU(),
        _coarse_linear(16, 2, 7),
    )  # fmt: skip
    stack = ExactSequential(network, activation_bits=bits)
    assert all(step.narrow is not None for step in (stack.stack.integer_first, *stack.stack.rest))
    x = torch.randint(-24, 25, (13, 3000)).float()
    x[:, 2000:] *= 1 << 14  # chunks beyond the float32 bound: float64 there
    monkeypatch.setattr(exact, "ROWS_PER_CHUNK", 1000)
    mixed = stack.on_integer_columns(x, float(x.abs().max()))
    monkeypatch.setattr(exact, "_float32_sums_are_exact", lambda: False)
    assert torch.equal(mixed, stack.on_integer_columns(x, float(x.abs().max())))


def test_inputs_past_a_steps_float32_bound_go_through_float64():
    """2**14 + 1/2 + 2**-12 needs 27 significant bits: float32 drops the last term and rounds
    the half to even (2**14) where the exact sum rounds up; the step's bound sends such inputs
    to float64."""
    layer = torch.nn.Linear(3, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.5, 2.0**-12]]))
        layer.bias.zero_()
    stack = ExactSequential(torch.nn.Sequential(layer), activation_bits=0).stack
    x = torch.tensor([[2.0**14], [1.0], [1.0]])
    assert stack.integer_first.narrow_inputs < 2.0**14
    assert stack.on_integer_columns(x, 2.0**14).item() == 2**14 + 1
    stack.integer_first = dataclasses.replace(stack.integer_first, narrow_inputs=math.inf)
    assert stack.on_integer_columns(x, 2.0**14).item() == 2**14  # what ignoring it would give


def test_float32_is_left_when_torch_may_trade_its_precision():
    assert exact._float32_sums_are_exact()
    torch.set_float32_matmul_precision("medium")
    try:
        assert not exact._float32_sums_are_exact()
    finally:
        torch.set_float32_matmul_precision("highest")
    assert exact._float32_sums_are_exact()


def test_another_first_layer_gives_what_converting_the_whole_stack_gives():
    torch.manual_seed(4)
    network = torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    other = torch.nn.Linear(5, 16)
    x = torch.randint(-20, 21, (5, 30)).float()
    shared = ExactSequential(network).with_first_layer(other.weight, other.bias)
    whole = ExactSequential(torch.nn.Sequential(other, *network[1:]))
    assert torch.equal(shared.on_integer_columns(x, 20), whole.on_integer_columns(x, 20))
    assert torch.equal(shared.on_columns(x), whole.on_columns(x))


def test_a_linear_stack_takes_one_activation_per_layer():
    with pytest.raises(TypeError, match="one activation after each layer"):
        ExactSequential(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="one activation after each layer"):
        layers = torch.nn.Linear(2, 2), torch.nn.LeakyReLU(), torch.nn.ReLU()
        ExactSequential(torch.nn.Sequential(*layers))
    with pytest.raises(TypeError, match="linear layers only"):
        ExactSequential(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1))).on_columns(torch.ones(2, 3))


def perturb_float_convolutions(monkeypatch, relative: float) -> None:
    """Make every float convolution a little different, as another device's kernels might."""

    def noisy(function):
        def perturbed(*args, **kwargs):
            out = function(*args, **kwargs)
            return out * (1 + relative * torch.randn_like(out))

        return perturbed

    monkeypatch.setattr(F, "conv2d", noisy(F.conv2d))
    monkeypatch.setattr(F, "conv_transpose2d", noisy(F.conv_transpose2d))


def test_simulation_for_training_matches_the_exact_path_and_has_gradients(model):
    z_hat = hyper_latents().requires_grad_()
    simulated = simulate(model.h_s, z_hat)
    exact = ExactSequential(model.h_s)(z_hat.detach())
    assert (simulated - exact).abs().max().item() <= 4 * 2.0**-ACTIVATION_BITS
    simulated.sum().backward()
    assert z_hat.grad is not None and z_hat.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.h_s.parameters())


def rows_and_symbols(model, chunks, shape, **options) -> list[np.ndarray]:
    """In order, the table rows every entropy decoder (stack or queue) is given while
    ``model`` decodes its latents and the integer symbols it returns: what must not depend
    on floats."""
    seen: list[np.ndarray] = []
    with pytest.MonkeyPatch.context() as patch:
        for owner in (coder, coder.QueueDecoder):
            real = owner.decode

            def recording(*args, _real=real, **kwargs):
                symbols = _real(*args, **kwargs)
                seen.extend([np.array(args[1]), symbols.copy()])  # decode(data | self, rows, ...)
                return symbols

            patch.setattr(owner, "decode", recording)
        model.decode_latents(chunks, shape, **options)
    return seen


def same_arrays(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(map(np.array_equal, first, second))


def test_decoding_under_a_perturbed_float_path_gives_identical_symbols(model, monkeypatch):
    torch.manual_seed(3)
    image = torch.rand(1, 3, 128, 192)
    exact_chunks, shape = model.compress(image)
    float_chunks, _ = model.compress(image, exact=False)
    expected = rows_and_symbols(model, exact_chunks, shape)
    expected_float = rows_and_symbols(model, float_chunks, shape, exact=False)

    perturb_float_convolutions(monkeypatch, 1e-3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert same_arrays(rows_and_symbols(model, exact_chunks, shape), expected)
        # The control: the float path gives the decoder other table rows.
        try:
            lost = rows_and_symbols(model, float_chunks, shape, exact=False)
        except Exception:  # a stream decoded with the wrong rows may also fail outright
            lost = []
        assert not same_arrays(lost, expected_float)
    finally:
        torch.set_num_threads(threads)


def test_cached_values_are_rebuilt_when_their_sources_change():
    owner, layer = torch.nn.Module(), torch.nn.Linear(3, 2)
    builds: list[int] = []

    def build() -> int:
        builds.append(len(builds) + 1)
        return builds[-1]

    assert cached(owner, "a", build, layer) == 1
    assert cached(owner, "a", build, layer) == 1
    assert cached(owner, "b", build, layer) == 2
    with torch.no_grad():
        layer.weight.add_(1)  # in place, as an optimizer step
    assert cached(owner, "a", build, layer) == 3
    layer.load_state_dict(torch.nn.Linear(3, 2).state_dict())
    assert cached(owner, "a", build, layer) == 4
    layer.bias = torch.nn.Parameter(torch.zeros(2))
    assert cached(owner, "a", build, layer) == 5
    layer.double()
    assert cached(owner, "a", build, layer) == 6
    assert cached(owner, "a", build, layer) == 6
    with torch.inference_mode():
        frozen = torch.nn.Linear(3, 2)
    assert cached(owner, "c", build, frozen) == 7
    assert cached(owner, "c", build, frozen) == 8


def test_the_exact_hyper_synthesis_follows_weights_changed_after_use(model):
    z_hat = hyper_latents()
    before, _ = model.predict_parameters(z_hat, exact=True)
    with torch.no_grad():
        for parameter in model.h_s.parameters():
            parameter.mul_(1.25)
    after, _ = model.predict_parameters(z_hat, exact=True)
    expected, _ = model.split(ExactSequential(model.h_s)(z_hat))
    assert torch.equal(after, expected)
    assert not torch.equal(after, before)


def test_unsupported_layers_are_refused():
    with pytest.raises(TypeError, match="no exact version of Sigmoid"):
        ExactSequential(torch.nn.Sequential(torch.nn.Sigmoid()))
    with pytest.raises(ValueError, match="exceed the exact range"):
        ExactSequential(torch.nn.Sequential(torch.nn.Conv2d(400, 1, 5)))


def test_fractional_rate_levels_decode_identically_under_a_perturbed_float_path(monkeypatch):
    torch.manual_seed(4)
    model = GainedMeanScaleHyperprior(32, 48, levels=4).eval()
    with torch.no_grad():
        for parameter in (model.gain, model.hyper_gain, model.hyper_inverse_gain):
            parameter.mul_(1 + 0.3 * torch.rand_like(parameter))
    model.update_tables()
    image = torch.rand(1, 3, 128, 128)
    gains = model.gains(torch.tensor([1.37]))
    chunks, shape = model.compress(image, gains=gains)
    expected = rows_and_symbols(model, chunks, shape, gains=gains)
    perturb_float_convolutions(monkeypatch, 1e-3)
    gains = model.gains(torch.tensor([1.37]))
    assert same_arrays(rows_and_symbols(model, chunks, shape, gains=gains), expected)


def test_gains_interpolate_between_levels_and_clamp():
    model = GainedMeanScaleHyperprior(16, 24, levels=3)
    with torch.no_grad():
        model.gain.copy_(torch.arange(3.0)[:, None] + 1)
    gains = model.gains(torch.tensor([0.0, 0.25, 2.0, 7.0, -1.0]))
    assert gains.y[:, 0, 0, 0].tolist() == [1.0, 1.25, 3.0, 3.0, 1.0]
    assert gains.y.shape == (5, 24, 1, 1) and gains.z.shape == (5, 16, 1, 1)
    with pytest.raises(ValueError, match="at least 2 levels"):
        GainedMeanScaleHyperprior(16, 24, levels=1)


@pytest.mark.parametrize("architecture", [JointAutoregressiveHyperprior, Cheng2020Anchor])
def test_autoregressive_decoding_is_exact_under_a_perturbed_float_path(monkeypatch, architecture):
    torch.manual_seed(5)
    model = architecture(32, 32).eval()
    with torch.no_grad():
        for module in (model.h_s, model.context_prediction, model.entropy_parameters):
            for parameter in module.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.05)
    model.update_tables()
    image = torch.rand(1, 3, 128, 128)
    chunks, shape = model.compress(image)
    expected = model.decode_latents(chunks, shape)
    assert (expected - model.g_a(image)).abs().max() <= 0.5 + 1e-5
    perturb_float_convolutions(monkeypatch, 1e-3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(model.decode_latents(chunks, shape), expected)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "architecture",
    [
        ScaleHyperprior,
        MeanScaleHyperprior,
        GainedMeanScaleHyperprior,
        JointAutoregressiveHyperprior,
        Cheng2020Anchor,
    ],
)
def test_streams_coded_on_one_device_decode_to_the_same_symbols_on_another(architecture, device):
    torch.manual_seed(6)
    on_cpu = architecture(32, 32).eval()
    with torch.no_grad():
        for parameter in on_cpu.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    on_cpu.update_tables()
    on_device = copy.deepcopy(on_cpu).to(device)
    image = torch.rand(1, 3, 128, 128)
    for encoder, x in ((on_device, image.to(device)), (on_cpu, image)):
        chunks, shape = encoder.compress(x)
        expected = rows_and_symbols(on_cpu, chunks, shape)
        assert expected and sum(np.count_nonzero(s) for s in expected[1::2]) > 0
        assert same_arrays(rows_and_symbols(on_device, chunks, shape), expected)

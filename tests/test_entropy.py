"""The entropy layer: deterministic tables, the ANS coder with escapes, and the two models."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from scipy.special import ndtr

from nccli.entropy import (
    FactorizedDensity,
    GaussianConditional,
    PmfTable,
    decode,
    encode,
    gaussian_table,
    quantize,
    scale_table,
)
from nccli.entropy.coder import QueueDecoder, QueueEncoder
from nccli.entropy.tables import exp_nonpositive, normal_cdf
from nccli.errors import InvalidInputError

#: Decoders depend on these tables bit for bit: a change here breaks every existing file.
GAUSSIAN_TABLE_SHA256 = "39ec1fb74f85aecb3c87352fd91773645724ab5b0ce0dd0815a9c1485b3d4e2d"
SCALE_TABLE_SHA256 = "60b18b781007e9d81ccf66901d3387ad8bdfd83b8b8c017a4bf34fddfa43e380"
#: The real payload may exceed the coding model's ideal length by at most this much.
OVERHEAD = 0.005


def table_digest(table: PmfTable) -> str:
    data = table.counts.tobytes() + table.lengths.tobytes() + table.offsets.tobytes()
    return hashlib.sha256(data).hexdigest()


def test_tables_are_pinned_bit_for_bit():
    scales = scale_table()
    assert hashlib.sha256(scales.astype("<f8").tobytes()).hexdigest() == SCALE_TABLE_SHA256
    assert table_digest(gaussian_table(scales)) == GAUSSIAN_TABLE_SHA256
    assert scales[0] == 0.11 and abs(scales[-1] - 256) < 1e-9 and len(scales) == 64


def test_basic_operation_math_is_accurate():
    x = -np.linspace(0, 700, 200001)
    assert np.max(np.abs(exp_nonpositive(x) / np.exp(x) - 1)) < 4e-15
    grid = np.linspace(-9, 9, 20001)
    assert np.max(np.abs(normal_cdf(grid) - ndtr(grid))) < 1e-7


def test_quantized_rows_are_exact_and_positive():
    table = quantize([np.array([0.5, 0.25, 0.25]), np.array([1e-12, 0.9])], [-1, 0])
    assert (table.counts.sum(axis=1) == 1 << 16).all()
    assert table.lengths.tolist() == [4, 3]
    assert (table.counts[0, :4] > 0).all() and table.counts[1, 3] == 0
    unbalanced = table.counts.copy()
    unbalanced[0, 0] += 1
    with pytest.raises(ValueError, match="sum to"):
        PmfTable(unbalanced, table.lengths, table.offsets)
    with pytest.raises(ValueError, match="positive within"):
        PmfTable(np.zeros((1, 2), np.int64), np.array([2]), np.array([0]))


def random_symbols(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, PmfTable]:
    rng = np.random.default_rng(seed)
    scales = scale_table()
    rows = rng.integers(0, len(scales), count)
    symbols = np.rint(rng.normal(0, scales[rows])).astype(np.int64)
    return symbols, rows, gaussian_table(scales)


def test_coder_round_trip_with_escaped_extremes():
    symbols, rows, table = random_symbols(20000)
    symbols[:6] = [10**12, -(10**12), 5000, -7000, 2**40, -1]
    data = encode(symbols, rows, table)
    np.testing.assert_array_equal(decode(data, rows, table), symbols)
    shaped = decode(
        encode(symbols.reshape(100, 200), rows.reshape(100, 200), table),
        rows.reshape(100, 200),
        table,
    )
    assert shaped.shape == (100, 200)


def test_payload_is_within_half_a_percent_of_the_ideal_length():
    symbols, rows, table = random_symbols(100000, seed=1)
    data = encode(symbols, rows, table)
    assert len(data) * 8 <= table.bits(symbols, rows) * (1 + OVERHEAD)


def test_queue_coder_decodes_batch_by_batch_in_encoding_order():
    symbols, rows, table = random_symbols(30000, seed=2)
    symbols[[5, 17000]] = [10**9, -(10**7)]
    batches = np.array_split(np.arange(len(symbols)), 300)
    encoder = QueueEncoder(table)
    for batch in batches:
        encoder.encode(symbols[batch], rows[batch])
    data = encoder.finish()
    assert len(data) * 8 <= table.bits(symbols, rows) * (1 + OVERHEAD) + 64 * 8
    decoder = QueueDecoder(data, table)
    decoded = np.concatenate([decoder.decode(rows[batch]) for batch in batches])
    decoder.finish()
    np.testing.assert_array_equal(decoded, symbols)
    with pytest.raises(InvalidInputError, match="trailing bytes"):
        QueueDecoder(data + b"x", table).finish()


def test_empty_input():
    table = gaussian_table(scale_table())
    empty = np.zeros(0, np.int64)
    assert decode(encode(empty, empty, table), empty, table).shape == (0,)


def test_damaged_payloads_are_input_errors():
    symbols, rows, table = random_symbols(1000)
    symbols[0] = 10**6
    data = encode(symbols, rows, table)
    for damaged in (data[:3], data[:-1], data + b"\x00", b""):
        with pytest.raises(InvalidInputError):
            decode(damaged, rows, table)
    with pytest.raises(ValueError, match="differ in size"):
        encode(symbols, rows[:-1], table)


def test_gaussian_indexes_pick_the_first_scale_at_least_as_large():
    model = GaussianConditional()
    table = model.scale_table
    scales = torch.tensor([0.0, 0.11, 0.1100001, table[10].item(), table[10].item() * 1.0001, 1e6])
    assert model.indexes(scales).tolist() == [0, 0, 1, 10, 11, 63]
    with pytest.raises(ValueError):
        GaussianConditional(scale_table=[1.0, 0.5])


def test_gaussian_likelihood_is_a_pmf_over_integers():
    model = GaussianConditional()
    values = torch.arange(-200, 201, dtype=torch.float64)
    for scale, mean in ((0.3, 0.2), (5.0, -1.4), (40.0, 3.0)):
        mass = model.likelihood(
            values, torch.full_like(values, scale), torch.full_like(values, mean)
        )
        assert mass.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_gaussian_round_trip_and_rate():
    torch.manual_seed(0)
    model = GaussianConditional()
    scales = torch.rand(2, 32, 48, 48) * 30 + 0.05
    means = torch.randn_like(scales) * 3
    y = means + torch.randn_like(scales) * scales
    indexes = model.indexes(scales)
    data = model.compress(y, indexes, means)
    y_hat = model.decompress(data, indexes, means)
    assert torch.equal(y_hat, torch.round(y - means) + means)
    # The coding model is the table row of each index; the payload must sit at its ideal.
    ideal = model.table.bits(torch.round(y - means).long().numpy(), indexes.numpy())
    assert len(data) * 8 <= ideal * (1 + OVERHEAD)
    # And the table tracks the continuous model closely at the table's own scales.
    at_table = model.scale_table[indexes].float()
    continuous = -torch.log2(model.likelihood(y_hat, at_table, means)).sum().item()
    assert abs(ideal / continuous - 1) < 0.01


@pytest.fixture(scope="module")
def trained_density() -> tuple[FactorizedDensity, torch.Tensor]:
    torch.manual_seed(0)
    model = FactorizedDensity(4)
    spread = torch.tensor([0.5, 2.0, 6.0, 15.0]).reshape(1, 4, 1, 1)
    y = torch.distributions.Laplace(
        2.3 + torch.zeros(4, 4, 32, 32), spread.expand(4, 4, 32, 32)
    ).sample()
    main = [p for name, p in model.named_parameters() if name != "quantiles"]
    optimizer = torch.optim.Adam(main, lr=1e-2)
    quantile_optimizer = torch.optim.Adam([model.quantiles], lr=0.5)
    for _ in range(400):
        optimizer.zero_grad()
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        (-torch.log2(model.likelihood(noisy)).mean()).backward()
        optimizer.step()
        quantile_optimizer.zero_grad()
        model.quantile_loss().backward()
        quantile_optimizer.step()
    model.update_tables()
    return model, y


def test_factorized_round_trip_and_rate(trained_density):
    model, y = trained_density
    data = model.compress(y)
    y_hat = model.decompress(data, tuple(y.shape))
    assert torch.equal(y_hat, model.quantize(y, noise=False))
    ideal = -torch.log2(model.likelihood(y_hat)).sum().item()
    assert len(data) * 8 <= ideal * (1 + OVERHEAD)


def test_factorized_tables_travel_with_the_weights(trained_density, tmp_path):
    model, y = trained_density
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "m.safetensors"
    )
    fresh = FactorizedDensity(4)
    fresh.load_state_dict(load_file(tmp_path / "m.safetensors"))
    data = model.compress(y)
    assert torch.equal(fresh.decompress(data, tuple(y.shape)), model.quantize(y, noise=False))
    with pytest.raises(RuntimeError, match="update_tables"):
        FactorizedDensity(4).compress(y)

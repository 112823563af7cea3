"""Image quality metrics on 8-bit-scale RGB, as defined in docs/evaluation.md.

Samples are compared on the 0..255 scale (16-bit images are divided by 257 first), colour
channels only (alpha is ignored). Pure functions of two H x W x C arrays.
"""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0
#: BT.601 luma weights on full-range R'G'B' (as JPEG/JFIF defines Y).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
#: Wang, Simoncelli & Bovik 2003: five scales and their exponents.
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(reference: np.ndarray, distorted: np.ndarray) -> float:
    """PSNR in dB over all colour samples; inf for identical images."""
    a, b = _colour_pair(reference, distorted)
    return _psnr_from_mse(float(np.mean((a - b) ** 2)))


def psnr_y(reference: np.ndarray, distorted: np.ndarray) -> float:
    """PSNR in dB of BT.601 luma (equal to psnr for grayscale images)."""
    a, b = _colour_pair(reference, distorted)
    if a.shape[2] == 3:
        a, b = a @ LUMA_WEIGHTS, b @ LUMA_WEIGHTS
    return _psnr_from_mse(float(np.mean((a - b) ** 2)))


def min_ms_ssim_side() -> int:
    """Smallest image side for which MS-SSIM is defined with five scales."""
    return (SSIM_WINDOW - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1


def ms_ssim(reference: np.ndarray, distorted: np.ndarray) -> float | None:
    """Multi-scale SSIM averaged over colour channels; None for images too small for 5 scales."""
    a, b = _colour_pair(reference, distorted)
    if min(a.shape[:2]) < min_ms_ssim_side():
        return None
    a, b = a.transpose(2, 0, 1), b.transpose(2, 0, 1)
    window = _gaussian_window()
    factors = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        ssim_value, contrast = _ssim_terms(a, b, window)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            factors.append(np.maximum(contrast, 0.0))
            a, b = _downsample(a), _downsample(b)
    factors.append(np.maximum(ssim_value, 0.0))
    per_channel = np.prod(np.stack(factors) ** MS_SSIM_WEIGHTS[:, None], axis=0)
    return float(per_channel.mean())


def _colour_pair(reference: np.ndarray, distorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if reference.shape != distorted.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {distorted.shape}")
    return _colour(reference), _colour(distorted)


def _colour(image: np.ndarray) -> np.ndarray:
    image = image[:, :, None] if image.ndim == 2 else image
    colour = image[:, :, :3] if image.shape[2] >= 3 else image[:, :, :1]
    scale = 257.0 if image.dtype == np.uint16 else 1.0
    return colour.astype(np.float64) / scale


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)


def _gaussian_window() -> np.ndarray:
    coords = np.arange(SSIM_WINDOW, dtype=np.float64) - SSIM_WINDOW // 2
    window = np.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def _filter(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation over the last two axes."""
    n = len(window)
    rows = sum(w * x[..., i : x.shape[-2] - n + 1 + i, :] for i, w in enumerate(window))
    return sum(w * rows[..., i : x.shape[-1] - n + 1 + i] for i, w in enumerate(window))


def _ssim_terms(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_a, mu_b = _filter(a, window), _filter(b, window)
    var_a = _filter(a * a, window) - mu_a**2
    var_b = _filter(b * b, window) - mu_b**2
    cov = _filter(a * b, window) - mu_a * mu_b
    contrast = (2 * cov + c2) / (var_a + var_b + c2)
    luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return (luminance * contrast).mean(axis=(1, 2)), contrast.mean(axis=(1, 2))


def _downsample(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling; odd sides are zero-padded by one on each side first."""
    pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
    x = np.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :h, :w]
    return 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2])

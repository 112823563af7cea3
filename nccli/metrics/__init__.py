"""Quality metrics: pure functions of a reference and a distorted signal."""

from nccli.metrics.audio import mel_distance, si_sdr, stft_distance
from nccli.metrics.image import ms_ssim, psnr, psnr_y

__all__ = ["mel_distance", "ms_ssim", "psnr", "psnr_y", "si_sdr", "stft_distance"]

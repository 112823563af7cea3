"""Quality metrics: pure functions of a reference and a distorted signal."""

from nccli.metrics.image import ms_ssim, psnr, psnr_y

__all__ = ["ms_ssim", "psnr", "psnr_y"]

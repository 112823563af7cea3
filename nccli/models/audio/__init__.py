"""Learned audio models (torch modules only)."""

from nccli.models.audio.encodec import SPECS, Encodec, EncodecSpec

__all__ = ["SPECS", "Encodec", "EncodecSpec"]

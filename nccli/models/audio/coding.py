"""EnCodec as streams: audio chunks in, code frames out, and back, in bounded memory.

A causal model runs its SEANet layer by layer as a stream (nccli.models.audio.streaming)
and quantises the embeddings as they come. A segmented model codes each segment once the
input covers it and cross-fades the decoded segments as they arrive.
"""

from __future__ import annotations

import torch

from nccli.models.audio.encodec import CrossFade, Encodec, Frame
from nccli.models.audio.streaming import stream


class CodeEncoder:
    """Audio (1, channels, n) chunks to frames of codes, exactly as the whole-signal
    ``Encodec.encode`` would cut and code them."""

    def __init__(self, model: Encodec, codebooks: int) -> None:
        self.model, self.codebooks = model, codebooks
        self.length = model.spec.segment_length
        self.stride = model.spec.segment_stride
        self.layers = stream(model.encoder) if self.length is None else None
        self.pending: torch.Tensor | None = None

    @torch.no_grad()
    def push(self, x: torch.Tensor) -> list[Frame]:
        if self.layers is not None:
            return self._quantize(self.layers.push(x))
        self.pending = x if self.pending is None else torch.cat([self.pending, x], dim=-1)
        return self._segments(shortest=self.length)

    @torch.no_grad()
    def flush(self) -> list[Frame]:
        if self.layers is not None:
            rest = self.layers.flush()
            return [] if rest is None else self._quantize(rest)
        return self._segments(shortest=1)

    def _segments(self, shortest: int) -> list[Frame]:
        """Code the segments starting in the pending input that have ``shortest`` samples."""
        frames = []
        while self.pending is not None and self.pending.shape[-1] >= shortest:
            segment = self.pending[..., : self.length]
            frames.append(self.model.encode_segment(segment, self.codebooks))
            self.pending = self.pending[..., self.stride :]
        return frames

    def _quantize(self, embeddings: torch.Tensor) -> list[Frame]:
        if embeddings.shape[-1] == 0:
            return []
        return [(self.model.quantizer.encode(embeddings, self.codebooks), None)]


class CodeDecoder:
    """Frames of codes to audio (1, channels, n), chunk by chunk."""

    def __init__(self, model: Encodec) -> None:
        self.model = model
        stride = model.spec.segment_stride
        self.layers = stream(model.decoder) if stride is None else None
        self.fade = None if stride is None else CrossFade(stride)

    @torch.no_grad()
    def push(self, frame: Frame) -> torch.Tensor:
        if self.layers is not None:
            return self.layers.push(self.model.quantizer.decode(frame[0]))
        return self.fade.push(self.model.decode_segment(*frame))

    @torch.no_grad()
    def flush(self) -> torch.Tensor | None:
        if self.layers is not None:
            return self.layers.flush()
        return self.fade.flush()

"""Evaluation: running codecs over inputs, metrics per file, summaries, gates and reports."""

from nccli.evaluation.runner import Row, compare_pair, run_codec

__all__ = ["Row", "compare_pair", "run_codec"]

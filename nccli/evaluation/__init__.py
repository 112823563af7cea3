"""Evaluation: running codecs over inputs, metrics per file, summaries, BD-rate, gates, reports."""

from nccli.evaluation.runner import Row, Task, run, run_all

__all__ = ["Row", "Task", "run", "run_all"]

"""The ``effort`` parameter of codecs that optimise at encode time: a named effort or a number
of optimisation steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nccli.codecs.base import Param
from nccli.errors import UsageError


@dataclass(frozen=True)
class EffortParam(Param):
    """One of ``efforts`` (names and their numbers of steps), or a number of steps from
    ``low`` to ``high``; parsed to the name or to the number as a string."""

    efforts: tuple[tuple[str, int], ...] = ()
    #: What a step is, for messages: "fitting steps".
    unit: str = "steps"

    def parse(self, value: Any) -> str:
        text = str(value).strip().lower()
        if text in self.choices:
            return text
        if text.isdigit() and self.low <= int(text) <= self.high:
            return str(int(text))
        raise UsageError(
            f"effort must be {', '.join(self.choices)} or a number of {self.unit} "
            f"from {self.low:.0f} to {self.high:.0f}, not {value!r}"
        )

    def steps(self, effort: str) -> int:
        """The number of steps of a parsed effort."""
        return dict(self.efforts)[effort] if effort in self.choices else int(effort)

    def cheapest_below(self, effort: str) -> str | None:
        """The named effort of fewest steps, where it runs fewer than ``effort``."""
        cheapest = min(self.efforts, key=lambda named: named[1], default=None)
        return cheapest[0] if cheapest and cheapest[1] < self.steps(effort) else None


def effort_param(efforts: dict[str, int], low: int, high: int, unit: str) -> EffortParam:
    """The effort parameter of a codec whose efforts run ``efforts``' steps; the default
    effort is named "default"."""
    named = ", ".join(f"{name} ({steps} {unit})" for name, steps in efforts.items())
    return EffortParam(
        "effort", str, low, high, "default",
        f"encoder effort: {named}, or a number of {unit} ({low}..{high})",
        choices=tuple(efforts), efforts=tuple(efforts.items()), unit=unit,
    )  # fmt: skip

"""What `nccli eval` measures for each modality: its rate unit and its quality metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nccli.errors import UsageError


@dataclass(frozen=True)
class Measures:
    """The metrics of one modality, with how to show them."""

    modality: str
    #: The rate metric, from the real file size: bits per pixel or kbit/s.
    rate: str
    #: Quality metrics in display order.
    quality: tuple[str, ...]
    #: Quality metrics where smaller is better (distances).
    lower_is_better: frozenset[str]
    #: metric -> (column label, decimal places)
    labels: dict[str, tuple[str, int]]
    #: Quality metrics computed on request only (they are slow); shown where measured.
    optional: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric of a row: quality metrics first, then the rate."""
        return (*self.quality, *self.optional, self.rate)

    def shown(self, records: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
        """The quality metrics to show for these rows or means: every standard one, and
        the optional ones that some record has a value of."""
        records = list(records)
        measured = [m for m in self.optional if any(r.get(m) is not None for r in records)]
        return (*self.quality, *measured)

    def higher_is_better(self, metric: str) -> bool:
        return metric in (*self.quality, *self.optional) and metric not in self.lower_is_better

    def label(self, metric: str) -> str:
        return self.labels[metric][0]

    def digits(self, metric: str) -> int:
        return self.labels[metric][1]


IMAGE = Measures(
    "image",
    rate="bpp",
    quality=("psnr", "psnr_y", "ms_ssim"),
    lower_is_better=frozenset(),
    labels={
        "bpp": ("bpp", 4),
        "psnr": ("PSNR (dB)", 2),
        "psnr_y": ("PSNR-Y (dB)", 2),
        "ms_ssim": ("MS-SSIM", 5),
    },
)
AUDIO = Measures(
    "audio",
    rate="kbps",
    quality=("si_sdr", "mel_distance", "stft_distance", "stoi", "pesq"),
    lower_is_better=frozenset({"mel_distance", "stft_distance"}),
    labels={
        "kbps": ("kbit/s", 2),
        "si_sdr": ("SI-SDR (dB)", 2),
        "mel_distance": ("mel dist.", 3),
        "stft_distance": ("STFT dist.", 3),
        "stoi": ("STOI", 4),
        "pesq": ("PESQ-WB", 3),
        "visqol": ("ViSQOL", 3),
    },
    optional=("visqol",),
)
BY_MODALITY = {m.modality: m for m in (IMAGE, AUDIO)}
#: Every metric a result row can carry, whatever its modality.
METRICS = tuple(dict.fromkeys(name for m in BY_MODALITY.values() for name in m.metrics))
#: Metrics where a larger value is better (rates and distances are the others).
HIGHER_IS_BETTER = frozenset(
    name for m in BY_MODALITY.values() for name in m.metrics if m.higher_is_better(name)
)


def measures_of(modality: str) -> Measures:
    """The measures of a modality nccli evaluates."""
    try:
        return BY_MODALITY[modality]
    except KeyError:
        raise UsageError(f"nccli eval does not measure {modality} yet") from None


def check_metric(metric: str, measures: Measures, option: str) -> None:
    """Refuse an option naming a metric that this run does not measure."""
    if metric not in measures.metrics:
        raise UsageError(
            f"{option}: {metric} is not measured for {measures.modality}; "
            f"{measures.modality} has {', '.join(measures.metrics)}"
        )

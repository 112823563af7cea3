"""Learned image transforms (torch modules only)."""

from nccli.models.image.autoregressive import JointAutoregressiveHyperprior
from nccli.models.image.hyperprior import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior

ARCHITECTURES = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHyperprior,
}

__all__ = [
    "ARCHITECTURES",
    "FactorizedPrior",
    "JointAutoregressiveHyperprior",
    "MeanScaleHyperprior",
    "ScaleHyperprior",
]

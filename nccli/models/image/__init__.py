"""Learned image transforms (torch modules only)."""

from nccli.models.image.autoregressive import Cheng2020Anchor, JointAutoregressiveHyperprior
from nccli.models.image.hyperprior import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior

ARCHITECTURES = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHyperprior,
    "cheng2020-anchor": Cheng2020Anchor,
}

__all__ = [
    "ARCHITECTURES",
    "Cheng2020Anchor",
    "FactorizedPrior",
    "JointAutoregressiveHyperprior",
    "MeanScaleHyperprior",
    "ScaleHyperprior",
]

"""Between tensors and bits: entropy models and the constriction coders (see tables.py)."""

from nccli.entropy.coder import CODER_NAME, CODER_VERSION, decode, encode
from nccli.entropy.factorized import FactorizedDensity
from nccli.entropy.gaussian import GaussianConditional
from nccli.entropy.tables import PmfTable, gaussian_table, quantize, scale_table

__all__ = [
    "CODER_NAME",
    "CODER_VERSION",
    "FactorizedDensity",
    "GaussianConditional",
    "PmfTable",
    "decode",
    "encode",
    "gaussian_table",
    "quantize",
    "scale_table",
]

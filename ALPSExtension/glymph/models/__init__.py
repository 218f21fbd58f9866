"""The networks glymph runs: where their weights are found, how they are loaded, and each model's
own input contract. Imports no measurement package (``alps``, ``epvs``, ``vein``): they call it.

``loader`` (weights located and loaded, never downloaded), ``deepbet`` (brain extraction);
every model has a card in ``cards/``.
"""

from glymph.models.deepbet import brain_mask_deepbet
from glymph.models.loader import ModelSpec, cache_dir, load_torchscript, model_path

__all__ = ["ModelSpec", "brain_mask_deepbet", "cache_dir", "load_torchscript", "model_path"]

"""The networks glymph runs: which exist, where their weights are found, how they are checked and
loaded, and each network's own input contract. Imports no measurement package (``alps``,
``epvs``, ``vein``): they call it.

``registry`` (every model: id, version, task, files and SHA-256, input contract, licence,
training, card), ``loader`` (weights located, checked and loaded, never downloaded; devices),
``runtime`` (ONNX Runtime sessions), ``inference`` (3D networks by MONAI's sliding window, 2D
networks in batches), ``deepbet`` (brain extraction), ``roi_detector`` (the ALPS ROI detector's
networks); every model has a card in ``cards/``.
"""

from glymph.models.deepbet import brain_mask_deepbet
from glymph.models.loader import load_torchscript, model_files, torch_device
from glymph.models.registry import MODELS, ModelInfo, WeightFile, get_model

__all__ = [
    "MODELS",
    "ModelInfo",
    "WeightFile",
    "brain_mask_deepbet",
    "get_model",
    "load_torchscript",
    "model_files",
    "torch_device",
]

"""How glymph runs a network over an image.

* 3D networks, window by window, with MONAI's sliding-window inference (``sliding_window``):
  overlapping windows, their outputs blended with Gaussian weights (a window's centre counts more
  than its edges, where the network saw least context), several windows per network call.
* 2D networks over a stack of slices, in batches (``in_batches``).

Both take a *predictor*: a function from a float32 batch ``(B, C, *spatial)`` to the network's
output ``(B, K, *spatial)`` as a numpy array: an ONNX Runtime session (``onnx_predictor``) or a
PyTorch module (``torch_predictor``), so the same code serves either runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from glymph.errors import GlymphError

Predictor = Callable[[np.ndarray], np.ndarray]
BLENDS = ("gaussian", "constant")


@dataclass(frozen=True)
class SlidingWindow:
    """How a 3D network covers an image (the parameters of MONAI's ``sliding_window_inference``)."""

    roi_size: tuple[int, int, int]  # voxels of one window along each image axis
    overlap: float = 0.5  # fraction of a window shared with its neighbour along each axis
    batch_size: int = 4  # windows per network call
    blend: str = "gaussian"  # "gaussian": centre-weighted average of the windows; "constant": plain average
    sigma_scale: float = 0.125  # sd of the Gaussian weights, as a fraction of the window size

    def __post_init__(self) -> None:
        if len(self.roi_size) != 3 or min(self.roi_size) < 1:
            raise GlymphError(f"a sliding window needs 3 positive sizes, not {self.roi_size}")
        if not 0.0 <= self.overlap < 1.0:
            raise GlymphError(f"sliding-window overlap must be in [0, 1), not {self.overlap}")
        if self.blend not in BLENDS:
            raise GlymphError(f"unknown blending '{self.blend}'; choose one of: {', '.join(BLENDS)}")
        if self.batch_size < 1:
            raise GlymphError(f"the window batch size must be >= 1, not {self.batch_size}")


def sliding_window(predictor: Predictor, image: np.ndarray, window: SlidingWindow) -> np.ndarray:
    """The network's output over a whole image: ``image`` (C, X, Y, Z) in voxel order -> (K, X, Y, Z)
    on the same voxels. An image smaller than a window is padded with zeros and the output cropped
    back (MONAI does both)."""
    try:
        import torch
        from monai.inferers import sliding_window_inference
    except ImportError:
        raise GlymphError("sliding-window inference needs PyTorch and MONAI: pip install 'glymph[models]'") from None

    if image.ndim != 4:
        raise GlymphError(f"sliding-window inference takes a (channels, x, y, z) image, not shape {image.shape}")

    def network(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(predictor(batch.numpy()), dtype=np.float32))

    with torch.no_grad():
        out = sliding_window_inference(
            torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32)),
            window.roi_size,
            window.batch_size,
            network,
            overlap=window.overlap,
            mode=window.blend,
            sigma_scale=window.sigma_scale,
            padding_mode="constant",
            cval=0.0,
        )
    return np.asarray(out[0])


def in_batches(predictor: Predictor, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """A 2D network's outputs for a stack of slices (N, C, H, W), ``batch_size`` slices per call,
    concatenated in order."""
    if len(slices) == 0:
        raise GlymphError("no slices to run the network on")
    batch = np.ascontiguousarray(slices, dtype=np.float32)
    return np.concatenate([predictor(batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)])


def onnx_predictor(session) -> Predictor:
    """A predictor running an ONNX Runtime session (its first input, its first output)."""
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch.astype(np.float32, copy=False)})[0]


def torch_predictor(module, device: str = "cpu") -> Predictor:
    """A predictor running a PyTorch module in evaluation mode on ``device`` (no gradients)."""
    import torch

    module = module.to(device).eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(batch).to(device)).float().cpu().numpy()

    return predict

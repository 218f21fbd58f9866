"""Every network glymph can run, described once: what it does, its weight files and their
SHA-256, the input contract it was trained with, its outputs, licence, how it was trained, and
its card (``glymph/models/cards/<id>.md``). ``glymph models list | info ID | verify`` prints this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from glymph.errors import GlymphError

CARDS = Path(__file__).parent / "cards"


@dataclass(frozen=True)
class WeightFile:
    """One file of a model's weights."""

    name: str  # its name in a model folder (--model-dir, $GLYMPH_MODEL_DIR/<id>/, the user cache)
    sha256: str | None  # None: not distributed with this version (a folder from `glymph train` serves it)
    packaged: str | None = None  # its path inside the Python distribution that ships it (RECORD), if any


@dataclass(frozen=True)
class ModelInfo:
    """A network and everything needed to run it faithfully and to check where it came from."""

    id: str
    version: str
    task: str
    framework: str  # how the files are loaded: "torchscript" or "onnx" (ONNX Runtime)
    files: tuple[WeightFile, ...]
    inputs: dict[str, str] = field(repr=False)  # the contract: modality, orientation, spacing, intensities, size
    outputs: str = ""
    licence: str = ""
    training: str = ""  # the exact training command, or who trained it and how
    package: str | None = None  # the Python distribution that ships the files (pip install ...), if any

    @property
    def shipped(self) -> bool:
        """Whether this version of glymph distributes the weights (else ``glymph train`` makes them)."""
        return all(file.sha256 is not None for file in self.files)

    @property
    def card(self) -> Path:
        """The model card beside the registry."""
        return CARDS / f"{self.id}.md"

    def describe(self) -> dict:
        """Everything above as plain data (for ``glymph models info`` and result sidecars)."""
        return {**asdict(self), "card": str(self.card)}


MODELS: dict[str, ModelInfo] = {
    model.id: model
    for model in (
        ModelInfo(
            id="deepbet",
            version="1.0.2",
            task="brain extraction of a T1-weighted head MRI (EPVS)",
            framework="torchscript",
            files=(
                WeightFile(
                    "bbox_model.pt",
                    "39a7b2b5f799faa1391ea97bfcdc0b9299f20d84f2316a4ff8918dc4685e40aa",
                    "data/models/bbox_model.pt",
                ),
                WeightFile(
                    "model.pt",
                    "de8ee7c69654d0dd3935dc4a5d84571d8ecf4637a6bfc01df399c4c2bc86e0fd",
                    "data/models/model.pt",
                ),
            ),
            inputs={
                "modality": "T1-weighted",
                "orientation": "RAS voxel order",
                "spacing": "any: nearest resampling to 128^3 (whole image), then 256^3 (the brain's box)",
                "intensities": "clipped to the 0.5-99.5 % quantiles, scaled to [0, 1], standardised to mean 0.449, sd 0.226",
                "size": "128x128x128 (bbox_model.pt), 256x256x256 (model.pt)",
            },
            outputs="softmax brain probability (channel 1); glymph keeps > 0.5, the largest component, holes filled",
            licence="MIT (Medical Machine Learning Lab, University of Münster)",
            training="pretrained by its authors (Fisch et al. 2024); not retrained by glymph",
            package="deepbet",
        ),
        ModelInfo(
            id="alps-roi-detector",
            version="1.1.0",
            task="ALPS ROI placement on the colour FA: the level of the lateral ventricle bodies (CNN) and the four ROIs (YOLO)",
            framework="onnx",
            files=(
                WeightFile("level_cnn.onnx", "e0d4ef90bb45a6c25d46ed448e0f33a0701008c9afd57c0297c51cfd76af7052"),
                WeightFile("roi_yolo.onnx", "25913d95cfeeaabea7324205c7597d9587aa78626b9e31c8295d62613938bab3"),
            ),
            inputs={
                "modality": "diffusion tensors (any DWI glymph fits), affine-registered to MNI152 by glymph",
                "orientation": "axial slices of the registered template space; R, G, B = template L-R, A-P, S-I",
                "spacing": "level CNN: 2 mm pixels, 64x64, z = 0..48 mm; YOLO: 1 mm pixels, 128x128 at each ROI's level and +-2 mm",
                "intensities": "colour FA = |principal eigenvector| x FA, in [0, 1] (no other normalisation)",
                "size": "x -64..64 mm, y -72..56 mm (template RAS)",
            },
            outputs="level CNN: offset of each ROI's level above each slice (4 outputs, x 10 mm); YOLO: boxes of proj_L, "
            "proj_R, assoc_L, assoc_R (best anchor per class, centre in pixels, confidence)",
            licence="weights: AGPL-3.0 (trained with ultralytics YOLOv8, AGPL-3.0; see the card); code: glymph's licence",
            training="glymph train roi-detector --out DIR",
        ),
        ModelInfo(
            id="epvs-unet",
            version="1.1.0",
            task="EPVS segmentation of a T1, a T2 or both, on the scan's own grid, thick slices interpolated to 1 mm (--method learned)",
            framework="onnx",
            files=(WeightFile("epvs_unet.onnx", "54c4c7b08a9295328539ead77e82664dd2d4fc03194b6adff950d59ac4f02e43"),),
            inputs={
                "modality": "T1-weighted and/or T2-weighted brain MRI (channel 0 T1, channel 1 T2; a missing one is zero)",
                "orientation": "the scan's own voxel axes, any order (trained with its axes permuted and flipped)",
                "spacing": "the scan's own: 0.6-1.2 mm in plane, slices up to 5 mm on any axis",
                "intensities": "N4 bias-corrected, divided by the brain median, zero outside the brain mask",
                "size": "windows of 96x96x96 voxels (MONAI sliding window, overlap 0.25, Gaussian blending)",
            },
            outputs="logit of perivascular space per voxel; glymph keeps probability >= 0.95 (0.5 for voxels of 2 mm or more on a side) inside the classical search region on the 1 mm analysis grid",
            licence="BSD-3-Clause (glymph's own weights and code)",
            training="glymph train epvs --out DIR",
        ),
        ModelInfo(
            id="vein-deeplab",
            version="1.0.0",
            task="superficial vein segmentation of an SWI MinIP (glymph vein --method learned)",
            framework="onnx",
            files=(
                WeightFile("vein_deeplab.onnx", "d189eefbda2e9cda7f0ed0fa561a28b81fe58e1ab2ca6d7328cb5451eeade254"),
            ),
            inputs={
                "modality": "SWI magnitude minimum-intensity projection over an axial slab (glymph's MinIP)",
                "orientation": "axial, the MinIP's voxel axes (R-L, A-P); trained mirrored left-right",
                "spacing": "any pixel of 0.45-1.05 mm, resized (bilinear) to 0.5 mm pixels for the network",
                "intensities": "MinIP divided by its brain median, minus 1; 0 outside the brain",
                "size": "the whole MinIP at once, padded to multiples of 16",
            },
            outputs="logit of vein per 0.5 mm pixel; glymph brings the probability back to the MinIP's pixels (area "
            "average) and keeps >= 0.5 inside the analysis region (the brain less a 2 mm rim)",
            licence="BSD-3-Clause (glymph's own weights and code; segmentation-models-pytorch is MIT)",
            training="glymph train vein --out DIR",
        ),
    )
}


def get_model(model_id: str) -> ModelInfo:
    """The registered model ``model_id``, or a GlymphError listing the ones that exist."""
    if model_id not in MODELS:
        raise GlymphError(f"unknown model '{model_id}'; registered: {', '.join(MODELS)} (glymph models list)")
    return MODELS[model_id]

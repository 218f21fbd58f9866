"""Every default a user can change, and every list of choices, defined once.

The ``glymph`` command line, the Slicer module panels, their module logic and the headless batch
scripts all read them from here, so no two of them can drift apart. Plain Python: importing this
loads no numpy, so ``glymph --help`` and the panels pay nothing for it.
"""

from __future__ import annotations

from glymph.methods import MethodRegistry

# --- diffusion tensors (glymph dti, glymph alps)
MAX_B = 1500.0  # s/mm^2: the tensor is fitted on the shells up to this b-value
B0_THRESHOLD = 50.0  # s/mm^2: volumes at or below this b-value are b0

# --- DTI-ALPS
# The built-in ROI centres, MNI152 RAS mm (x > 0 is the subject's right; every ROI is labelled by
# the sign of its x, see glymph.alps.rois for the conventions and sources).
ROI_SETS: dict[str, dict[str, tuple[float, float, float]]] = {
    # Chen et al. 2025 (Front. Aging Neurosci. 17:1621106, after Zhang et al. 2021)
    "chen2025": {
        "proj_L": (-28.0, -12.0, 24.0),
        "proj_R": (24.0, -12.0, 24.0),
        "assoc_L": (-40.0, -12.0, 24.0),
        "assoc_R": (36.0, -12.0, 24.0),
    },
    # the FSL-based ALPS script (Liu et al. 2024, after the JHU white-matter atlas)
    "jhu": {
        "proj_L": (-26.0, -16.0, 27.0),
        "proj_R": (26.0, -16.0, 27.0),
        "assoc_L": (-38.0, -16.0, 27.0),
        "assoc_R": (38.0, -16.0, 27.0),
    },
}
ROI_SET = "chen2025"
ROI_DIAMETER_MM = 5.0
ROI_MIN_FA = 0.0  # ROI voxels of lower FA are dropped (0: keep every voxel)
DENOISERS = ("none", "mppca", "patch2self")  # DWI denoising before the fit (dipy)
DENOISE = "none"  # off: the DWI is taken as preprocessed
MOTION_MODELS = ("none", "rigid", "affine")  # motion correction of the DWI volumes
MOTION_CORRECTION = "none"
# a gradient table that does not fit the anatomy: stop the run, fix the table and fit again, or skip the check
GRADIENT_CHECKS = ("stop", "fix", "off")
GRADIENT_CHECK = "stop"
FRAMES = ("image", "anatomical")  # axes of Dxx, Dyy, Dzz: scanner RAS, or template-aligned by registration
FRAME = "image"
# ROI centres from the registered atlas, from the learned detector (the dALPS approach: a CNN picks
# the level, YOLO finds the ROIs on the colour FA), or from the user's point list (--rois / markups)
AUTOMATIC_PLACEMENTS = ("atlas", "detector")
PLACEMENTS = (*AUTOMATIC_PLACEMENTS, "markups")
PLACEMENT = "atlas"
REGISTRATION_CONTRASTS = ("fa", "b0")  # FA to the MNI152 white matter, or the b0 to the MNI152 T1
REGISTRATION_CONTRAST = "fa"

# --- networks
DEVICES = ("auto", "cpu", "cuda")  # auto: a CUDA GPU when PyTorch sees one, else the CPU
DEVICE = "auto"
THREADS = None  # CPU threads a network may use (None: one per core)

# --- EPVS
EPVS_METHODS = MethodRegistry(
    "EPVS segmentation",
    {"classical": "glymph.epvs.segmentation:segment_classical", "learned": "glymph.epvs.learned:segment_learned"},
    networks=("learned",),
)
# learned since 2026-12-06: with both methods shaped by the image's partial volume, on the benchmark's
# six heads (benchmarks/epvs.py --learned: Colin27 seeds 2/3 and 5/6, MNI152 seeds 2/3) its mean Dice
# is 0.80 against 0.77 at 1 mm with a T1, 0.82 against 0.81 with a T2 beside it, 0.54 against 0.23 on
# 1x1x3 mm voxels (0.45 before thick slices were read interpolated to 1 mm, the same evening), never
# below the classical method's (at SNR 10 too: 0.41 against 0.23 on thick slices, seeds 2/3), and it
# alone reads a T2 alone (README, "EPVS, learned against classical").
EPVS_METHOD = "learned"
MIN_LENGTH_MM = 2.0  # EPVS components shorter than this are removed (Chen et al. 2025)

# --- superficial veins
VEIN_METHODS = MethodRegistry(
    "vein segmentation",
    {"classical": "glymph.vein.segmentation:segment_classical", "learned": "glymph.vein.learned:segment_learned"},
    networks=("learned",),
)
VEIN_METHOD = "classical"
SLAB_MM = 20.0  # MinIP slab thickness (SCV study)

"""DWI preprocessing before the tensor fit, each step optional: denoising (dipy MP-PCA or
Patch2Self), Gibbs-ringing removal (dipy), and motion correction (each volume registered to the b0
reference by SimpleITK, its gradient rotated with the head).

``preprocess_dwi(dwi, Preprocessing(...))`` -> the new DWI and a ``PreprocessingRecord`` (what
was done and how long it took, the motion table). Order as in MRtrix3's recommended pipeline: denoise first (it
needs the untouched noise), then unring, then motion.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from glymph.defaults import DENOISE, DENOISERS, MOTION_CORRECTION, MOTION_MODELS
from glymph.dti.dwi import DWI
from glymph.errors import GlymphError
from glymph.progress import step
from glymph.volume import Volume, nearest_rotation

log = logging.getLogger("glymph")

MPPCA_PATCH_RADIUS = 2  # 5x5x5 patches (dipy's default, as MRtrix3 dwidenoise)
GIBBS_NEIGHBOURS = 3  # dipy gibbs_removal n_points


@dataclass(frozen=True)
class Preprocessing:
    """Which preprocessing steps run (``--denoise``, ``--unring``, ``--motion-correct``)."""

    denoise: str = DENOISE
    unring: bool = False
    motion: str = MOTION_CORRECTION  # MOTION_MODELS; affine: rigid, then shears and scaling (eddy currents)

    def __post_init__(self) -> None:
        if self.denoise not in DENOISERS:
            raise GlymphError(f"unknown denoising '{self.denoise}'; choose one of: {', '.join(DENOISERS)}")
        if self.motion not in MOTION_MODELS:
            raise GlymphError(f"unknown motion model '{self.motion}'; choose one of: {', '.join(MOTION_MODELS)}")

    @property
    def any(self) -> bool:
        return self.denoise != "none" or self.unring or self.motion != "none"


@dataclass(frozen=True)
class Motion:
    """Per-volume head motion found by registration to the b0 reference.

    ``transforms[i]`` (4x4, RAS mm) maps reference-space points to where they lay in volume i;
    ``displacement_mm[i]`` is the mean movement of the reference's brain voxels under it."""

    transforms: np.ndarray
    bvals: np.ndarray
    displacement_mm: np.ndarray

    def rotations(self) -> np.ndarray:
        """(N, 3, 3) rotation part of each transform (polar decomposition)."""
        return np.stack([nearest_rotation(t[:3, :3]) for t in self.transforms])

    def table(self) -> list[dict[str, float]]:
        """One row per volume: b-value, translation (mm) and rotation angles about x, y, z (degrees,
        RAS axes, from R = Rz Ry Rx), mean brain displacement (mm)."""
        rows = []
        for i, (t, r) in enumerate(zip(self.transforms, self.rotations(), strict=True)):
            angles = np.degrees(
                [np.arctan2(r[2, 1], r[2, 2]), np.arcsin(np.clip(-r[2, 0], -1, 1)), np.arctan2(r[1, 0], r[0, 0])]
            )
            rows.append(
                {
                    "volume": i,
                    "b": float(self.bvals[i]),
                    **{f"translation_{a}_mm": round(float(v), 4) for a, v in zip("xyz", t[:3, 3], strict=True)},
                    **{f"rotation_{a}_deg": round(float(v), 4) for a, v in zip("xyz", angles, strict=True)},
                    "displacement_mm": round(float(self.displacement_mm[i]), 4),
                }
            )
        return rows


@dataclass(frozen=True)
class PreprocessingRecord:
    """What preprocessing did: the steps run (name, parameters, seconds) and the motion found."""

    steps: list[dict] = field(default_factory=list)
    motion: Motion | None = None

    def describe(self) -> dict:
        """The ``preprocessing`` section of a sidecar."""
        described: dict = {"steps": self.steps}
        if self.motion is not None:
            displacement = self.motion.displacement_mm
            described["motion"] = {
                "mean_displacement_mm": round(float(displacement.mean()), 4),
                "max_displacement_mm": round(float(displacement.max()), 4),
                "volumes": self.motion.table(),
            }
        return described


def denoise(dwi: DWI, method: str, mask: Volume | None = None) -> DWI:
    """Denoise all volumes: ``mppca`` (Veraart et al. 2016, dipy ``mppca``: 5x5x5 patches, inside
    ``mask`` when given) or ``patch2self`` (Fadnavis et al. 2020, dipy: self-supervised, OLS)."""
    data = np.asarray(dwi.data, dtype=np.float32)
    if method == "mppca":
        from dipy.denoise.localpca import mppca

        inside = None if mask is None else np.asarray(mask.data, dtype=bool)
        cleaned = mppca(data, mask=inside, patch_radius=MPPCA_PATCH_RADIUS, suppress_warning=True)
        if inside is not None:
            cleaned = np.where(inside[..., None], cleaned, data)
    elif method == "patch2self":
        from dipy.denoise.patch2self import patch2self

        cleaned = patch2self(data, dwi.bvals, model="ols", b0_threshold=dwi.b0_threshold, shift_intensity=True)
    else:
        raise GlymphError(f"unknown denoising '{method}'; choose one of: {', '.join(DENOISERS[1:])}")
    return dwi.with_data(np.clip(cleaned, 0, None).astype(np.float32))


def slice_axis(volume: Volume) -> int:
    """The voxel axis the slices were acquired along: the one with the largest spacing (ties: the
    one closest to the scanner's S-I axis, the usual axial acquisition)."""
    spacing = volume.spacing
    candidates = np.flatnonzero(np.isclose(spacing, spacing.max(), rtol=0.02))
    return int(max(candidates, key=lambda a: abs(volume.rotation[2, a])))


def unring(dwi: DWI) -> DWI:
    """Remove Gibbs ringing slice by slice (Kellner et al. 2016, dipy ``gibbs_removal``) in the
    plane of the acquired slices (``slice_axis``)."""
    from dipy.denoise.gibbs import gibbs_removal

    data = np.array(dwi.data, dtype=np.float32)
    cleaned = gibbs_removal(data, slice_axis=slice_axis(dwi.volume), n_points=GIBBS_NEIGHBOURS, inplace=True)
    return dwi.with_data(np.clip(cleaned, 0, None).astype(np.float32))


def _resample(volume: np.ndarray, grid: Volume, transform: np.ndarray) -> np.ndarray:
    """``volume`` (on ``grid``) sampled at ``transform`` of each grid point (cubic spline, 0 outside)."""
    from scipy.ndimage import affine_transform

    vox = np.linalg.inv(grid.affine) @ transform @ grid.affine
    out = affine_transform(volume, vox[:3, :3], vox[:3, 3], order=3, mode="constant", cval=0.0)
    return np.clip(out, 0, None)


def correct_motion(dwi: DWI, mask: Volume | None = None, model: str = "affine") -> tuple[DWI, Motion]:
    """Register every volume to the b0 reference (``model``: rigid or affine) and resample it there;
    rotate its gradient by the rotation found (a head turned by R saw the gradient g as R^T g).

    The reference is the first b0 after the other b0s were registered to it, averaged. ``mask``
    (the reference's brain; default: from the first b0) restricts the metric and the displacement.
    """
    from glymph.masks import brain_mask_from_b0
    from glymph.registration import register_volume

    data = np.asarray(dwi.data, dtype=np.float32)
    grid = dwi.volume.with_data(data[..., 0])
    b0s = np.flatnonzero(dwi.is_b0)
    fixed = grid.with_data(data[..., b0s[0]])
    brain = mask if mask is not None else brain_mask_from_b0(fixed)
    transforms = np.tile(np.eye(4), (data.shape[3], 1, 1))

    moved = np.empty_like(data)

    def register(i: int, reference: Volume) -> None:
        transforms[i] = register_volume(grid.with_data(data[..., i]), reference, brain, model).matrix
        moved[..., i] = _resample(data[..., i], grid, transforms[i])

    moved[..., b0s[0]] = data[..., b0s[0]]
    for i in b0s[1:]:
        register(i, fixed)
    reference = grid.with_data(moved[..., b0s].mean(axis=3))
    for i in np.flatnonzero(~dwi.is_b0):
        register(i, reference)
    points = grid.voxel_centres()[np.asarray(brain.data, dtype=bool)]
    displacement = np.array(
        [np.linalg.norm(points @ (t[:3, :3] - np.eye(3)).T + t[:3, 3], axis=1).mean() for t in transforms]
    )
    motion = Motion(transforms, dwi.bvals, displacement)
    bvecs = np.einsum("nji,nj->ni", motion.rotations(), dwi.bvecs)  # R_i^T g_i
    return dwi.with_data(moved, bvecs), motion


def preprocess_dwi(dwi: DWI, options: Preprocessing, mask: Volume | None = None) -> tuple[DWI, PreprocessingRecord]:
    """Run the steps ``options`` asks for, in order: denoise, unring, motion correction."""
    from glymph.masks import brain_mask_from_b0

    steps: list[dict] = []
    motion = None
    if mask is None and (options.denoise == "mppca" or options.motion != "none"):
        mask = brain_mask_from_b0(dwi.mean_b0())  # MP-PCA only inside, the motion metric only there

    def timed(name: str, parameters: dict, run):
        started = time.perf_counter()
        with step(name):
            out = run()
        steps.append({"step": name, **parameters, "time_s": round(time.perf_counter() - started, 2)})
        return out

    if options.denoise == "mppca":
        dwi = timed("denoising (dipy MP-PCA)", {"method": "mppca", "patch_radius": MPPCA_PATCH_RADIUS},
                    lambda: denoise(dwi, "mppca", mask))  # fmt: skip
    elif options.denoise == "patch2self":
        log.warning(
            "Patch2Self flattened the anisotropy on glymph's phantom (ALPS 36 %% off); MP-PCA is safer for ALPS"
        )
        dwi = timed("denoising (dipy Patch2Self)", {"method": "patch2self", "model": "ols"},
                    lambda: denoise(dwi, "patch2self"))  # fmt: skip
    if options.unring:
        axis = slice_axis(dwi.volume)
        dwi = timed("Gibbs ringing removal (dipy)", {"slice_axis": axis, "n_points": GIBBS_NEIGHBOURS},
                    lambda: unring(dwi))  # fmt: skip
    if options.motion != "none":
        dwi, motion = timed(
            f"motion correction ({dwi.bvals.size} volumes to the b0, SimpleITK {options.motion})",
            {
                "model": options.motion,
                "reference": "b0s aligned to the first and averaged",
                "gradients": "rotated with each volume",
            },
            lambda: correct_motion(dwi, mask, options.motion),
        )
        worst = int(np.argmax(motion.displacement_mm))
        log.info("motion: mean displacement %.2f mm, largest %.2f mm (volume %d)",
                 motion.displacement_mm.mean(), motion.displacement_mm[worst], worst)  # fmt: skip
    return dwi, PreprocessingRecord(steps, motion)

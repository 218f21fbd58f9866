"""Training and validation subjects for the ALPS ROI detector, drawn from real anatomy.

Each subject is an ``alps_phantom`` (MNI152 tissue maps with the ALPS tracts) reshaped by a random
smooth deformation with atrophy (``Deformation.random``), posed in the scanner up to
``MAX_TILT_DEG``, acquired on a random grid (in-plane 1.5-3 mm, slices up to 5 mm, sometimes
oblique), with 6-100 gradient directions, SNR 10-60 and sometimes partial coverage, then fitted
(WLS tensors). What the networks see is rendered exactly as at inference
(``glymph.alps.detector.colour_fa_slices``) through the affine map a registration would find: the
pose times the best affine fit of the deformation, plus a random registration error.
The truth is the protocol's MNI centres pushed through the deformation and the pose, read in that
affine space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glymph.alps.detector import (
    BOX_PIXEL_MM,
    LEVEL_PIXEL_MM,
    LEVEL_Z,
    TRAINED_ROI_SET,
    colour_fa_slices,
    template_to_pixel,
)
from glymph.alps.rois import LABELS
from glymph.defaults import ROI_SETS
from glymph.dti.tensor import TensorModel
from glymph.phantoms.deformation import Deformation
from glymph.phantoms.dwi import DWIPhantom, HeadPose, TractZones, alps_phantom
from glymph.phantoms.geometry import rotation_matrix
from glymph.registration import AffineMap
from glymph.templates import mni152
from glymph.volume import Volume

MAX_TILT_DEG = 20.0
SLAB_Z_MM = (-12.0, 66.0)  # template z acquired (at most): the level slab and a margin for the deformation
BOX_OFFSET_MM = 4.5  # box slices are drawn up to this far (uniform +-) from the mean true level
BOX_SLICES = 4


@dataclass(frozen=True)
class DetectorSubject:
    """One synthetic subject as the detector sees it, with its truth (template affine space)."""

    level_slices: np.ndarray  # (len(LEVEL_Z), 3, 64, 64)
    level_offsets_mm: np.ndarray  # (len(LEVEL_Z), 4) each ROI's true level minus slice z, LABELS order
    box_slices: np.ndarray  # (BOX_SLICES, 3, 128, 128)
    box_centres: np.ndarray  # (BOX_SLICES, 4, 2) true (column, row) per label, pixels
    truth_template: np.ndarray  # (4, 3) true centres in the registered template space, LABELS order

    @property
    def level_z_mm(self) -> np.ndarray:
        """(4,) each ROI's true level (template z, mm), LABELS order."""
        return self.truth_template[:, 2]


@dataclass(frozen=True)
class Acquisition:
    """The random scan of one synthetic subject."""

    pose: HeadPose
    deformation: Deformation
    voxel_mm: tuple[float, float, float]
    grid_rotation_deg: tuple[float, float, float]
    n_directions: int
    snr: float
    slab_z_mm: tuple[float, float]

    @classmethod
    def random(cls, rng: np.random.Generator, deformed: bool = True) -> Acquisition:
        in_plane = float(rng.uniform(1.5, 3.0))
        thickness = float(rng.uniform(in_plane, 5.0)) if rng.random() < 0.4 else in_plane
        oblique = rng.random() < 0.3
        lo, hi = SLAB_Z_MM
        if rng.random() < 0.25:  # partial coverage: the top or the bottom of the slab is missing
            lo, hi = (lo, float(rng.uniform(40.0, hi))) if rng.random() < 0.5 else (float(rng.uniform(lo, 5.0)), hi)
        return cls(
            HeadPose.random(rng, max_tilt_deg=MAX_TILT_DEG, max_shift_mm=10.0, max_scale_change=0.12),
            Deformation.random(rng) if deformed else Deformation(),
            (in_plane, in_plane, thickness),
            tuple(rng.uniform(-15, 15, 3)) if oblique else (0.0, 0.0, 0.0),  # type: ignore[arg-type]
            int(np.exp(rng.uniform(np.log(6), np.log(100)))),
            float(rng.uniform(10.0, 60.0)),
            (lo, hi),
        )


def registered_map(phantom: DWIPhantom, rng: np.random.Generator, error: bool = True) -> AffineMap:
    """The template -> scanner affine a registration would find: the pose times the least-squares
    affine fit of the deformation over the brain, times a random error (up to 2 degrees, 1.5 mm, 2 %)."""
    t = mni152()
    brain = t.t1.voxel_to_world(np.argwhere(t.brain_mask.data)[::7])
    fit = np.eye(4)
    if phantom.deformation is not None:
        moved = phantom.deformation.forward(brain)
        design = np.column_stack([brain, np.ones(len(brain))])
        fit[:3, :] = np.linalg.lstsq(design, moved, rcond=None)[0].T
    noise = np.eye(4)
    if error:
        noise[:3, :3] = rotation_matrix(tuple(rng.uniform(-2, 2, 3))) * rng.uniform(0.98, 1.02)
        noise[:3, 3] = rng.uniform(-1.5, 1.5, 3)
    return AffineMap(phantom.pose.matrix() @ fit @ noise)


def fitted_tensors(phantom: DWIPhantom) -> Volume:
    """WLS tensors of the phantom inside its brain (FSL order, RAS, mm^2/s)."""
    dwi = phantom.dwi
    fit = TensorModel(dwi.bvals, dwi.bvecs).fit(dwi.data, phantom.brain_mask)
    return Volume(fit.tensor, dwi.affine)


def truth_in_template(phantom: DWIPhantom, transform: AffineMap) -> np.ndarray:
    """(4, 3) true centres of the trained ROI set, in the registered template space (LABELS order)."""
    scanner = phantom.true_rois(TRAINED_ROI_SET)
    return transform.to_template(np.array([scanner[label] for label in LABELS]))


def detector_subject(seed: int, deformed: bool = True) -> DetectorSubject:
    """One synthetic subject (see the module docstring), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    scan = Acquisition.random(rng, deformed)
    phantom = alps_phantom(
        alps_left=float(rng.uniform(0.9, 2.0)),
        alps_right=float(rng.uniform(0.9, 2.0)),
        pose=scan.pose,
        voxel_mm=scan.voxel_mm,
        n_directions=scan.n_directions,
        bvalue=float(rng.uniform(700, 1300)),
        n_b0=int(rng.integers(1, 4)),
        snr=scan.snr,
        seed=seed,
        grid_rotation_deg=scan.grid_rotation_deg,
        deformation=scan.deformation,
        slab_z_mm=scan.slab_z_mm,
        zones=TractZones.random(rng),
    )
    transform = registered_map(phantom, rng)
    tensor = fitted_tensors(phantom)
    truth = truth_in_template(phantom, transform)
    level = float(truth[:, 2].mean())
    box_z = level + rng.uniform(-BOX_OFFSET_MM, BOX_OFFSET_MM, BOX_SLICES)
    box_z[0] = level
    centres = np.array([[template_to_pixel(p, BOX_PIXEL_MM) for p in truth] for _ in box_z])
    return DetectorSubject(
        colour_fa_slices(tensor, transform, LEVEL_Z, LEVEL_PIXEL_MM),
        truth[None, :, 2] - LEVEL_Z[:, None],
        colour_fa_slices(tensor, transform, box_z, BOX_PIXEL_MM),
        centres,
        truth,
    )


def protocol_centres() -> np.ndarray:
    """(4, 3) MNI centres of the trained ROI set, LABELS order."""
    return np.array([ROI_SETS[TRAINED_ROI_SET][label] for label in LABELS])

"""Diffusion-weighted images with their gradient table in the RAS world frame.

Gradients become unit RAS world directions once, here, when a scan is read:

* FSL ``bvec`` files give directions in voxel axes, with the first axis flipped when the
  voxel-to-world matrix has a positive determinant (FSL's radiological convention):
  ``g_world = R @ diag(-1, 1, 1) @ b`` if ``det(A) > 0`` else ``R @ b``, where R holds the voxel
  axes as RAS unit columns.
* NRRD DWI (as Slicer writes it) gives ``DWMRI_gradient_NNNN`` in the measurement frame, mapped to
  the header's space by the ``measurement frame`` matrix (its vectors are the matrix columns);
  a gradient's squared norm scales ``DWMRI_b-value``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.image_io import (
    LPS_TO_RAS,
    existing_file,
    is_nifti,
    is_nrrd,
    nrrd_affine,
    read_nifti,
    read_nrrd,
    strip_image_suffix,
)
from glymph.volume import Volume, nearest_rotation

log = logging.getLogger("glymph")

B0_THRESHOLD = 50.0  # s/mm^2: volumes at or below this b-value are treated as b = 0
UNIT_TOLERANCE = 1e-2  # allowed | |b| - 1 | of a non-zero FSL b-vector (dipy uses the same)


@dataclass(frozen=True)
class DWI:
    """A 4D diffusion-weighted scan.

    ``volume.data`` is (I, J, K, N); ``bvals`` (N,) in s/mm^2; ``bvecs`` (N, 3) unit gradient
    directions in the RAS world frame, zero rows for b0 volumes.
    """

    volume: Volume
    bvals: np.ndarray
    bvecs: np.ndarray
    b0_threshold: float = B0_THRESHOLD

    @property
    def affine(self) -> np.ndarray:
        return self.volume.affine

    @property
    def data(self) -> np.ndarray:
        return self.volume.data

    @property
    def is_b0(self) -> np.ndarray:
        """Boolean (N,): which volumes are b0 (b <= b0_threshold)."""
        return self.bvals <= self.b0_threshold

    def mean_b0(self) -> Volume:
        """Mean of the b0 volumes (3D)."""
        return Volume(self.data[..., self.is_b0].mean(axis=3), self.affine)

    def select(self, keep: np.ndarray) -> DWI:
        """A DWI holding only the volumes where ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        return DWI(Volume(self.data[..., keep], self.affine), self.bvals[keep], self.bvecs[keep], self.b0_threshold)

    def up_to_b(self, max_b: float) -> DWI:
        """The volumes with b <= max_b (s/mm^2), warning about the ones left out."""
        keep = self.bvals <= max_b
        if keep.all():
            return self
        dropped = sorted({round(b) for b in self.bvals[~keep]})
        log.warning(
            "multi-shell data: fitting the tensor on b <= %g s/mm^2 only, leaving out %d volumes "
            "(b = %s); use --max-b to change this",
            max_b,
            int((~keep).sum()),
            ", ".join(map(str, dropped)),
        )
        return self.select(keep)


def fsl_frame(affine: np.ndarray) -> np.ndarray:
    """3x3 matrix whose columns are FSL's b-vector axes in RAS world: voxel axes, x flipped if det > 0."""
    linear = affine[:3, :3]
    flip = np.diag([-1.0, 1.0, 1.0]) if np.linalg.det(linear) > 0 else np.eye(3)
    return nearest_rotation(linear) @ flip


def fsl_to_world(bvecs_fsl: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Convert FSL b-vectors (N, 3) to RAS world directions for an image with ``affine``."""
    return bvecs_fsl @ fsl_frame(affine).T


def world_to_fsl(bvecs_world: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Convert RAS world directions (N, 3) to FSL b-vectors for an image with ``affine``."""
    return bvecs_world @ fsl_frame(affine)


def _read_table(path: Path, what: str) -> np.ndarray:
    try:
        rows = [
            line.split() for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except (ValueError, UnicodeDecodeError):
        raise GlymphError(f"{what} {path} is not a table of numbers (FSL format expected)") from None


def read_fsl_gradients(bval_path: Path, bvec_path: Path, n_volumes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read FSL bval/bvec files: (N,) b-values and (N, 3) b-vectors in FSL voxel axes."""
    bvals = _read_table(bval_path, "b-value file").ravel()
    bvecs = _read_table(bvec_path, "b-vector file")
    if bvecs.ndim != 2 or (bvecs.shape[0] != 3 and bvecs.shape[1] != 3):
        raise GlymphError(f"b-vector file {bvec_path} must have 3 rows (FSL) or 3 columns")
    if bvecs.shape[0] == 3 and bvecs.shape[1] != 3:
        bvecs = bvecs.T
    elif bvecs.shape == (3, 3):
        bvecs = bvecs.T  # FSL layout: one row per axis
    if bvals.size != n_volumes:
        raise GlymphError(
            f"{bval_path} has {bvals.size} b-values but the image has {n_volumes} volumes; "
            "pass the b-value file that belongs to this scan"
        )
    if bvecs.shape[0] != n_volumes:
        raise GlymphError(
            f"{bvec_path} has {bvecs.shape[0]} b-vectors but the image has {n_volumes} volumes; "
            "pass the b-vector file that belongs to this scan"
        )
    return bvals, bvecs


def check_gradients(bvals: np.ndarray, bvecs: np.ndarray, b0_threshold: float, source: str) -> np.ndarray:
    """Validate a gradient table and return unit directions with zero rows for b0 volumes."""
    if not np.all(np.isfinite(bvals)) or np.any(bvals < 0):
        raise GlymphError(f"{source}: b-values must be finite and >= 0")
    is_b0 = bvals <= b0_threshold
    if not is_b0.any():
        raise GlymphError(
            f"{source}: no b0 volume (no b-value <= {b0_threshold:g} s/mm^2); "
            "the tensor fit and brain mask need one (raise the threshold with --b0-threshold if your b0 has b > 0)"
        )
    if is_b0.all():
        raise GlymphError(f"{source}: every volume is a b0 (b <= {b0_threshold:g}); no diffusion weighting to fit")
    weighted = bvecs[~is_b0]
    if not np.all(np.isfinite(weighted)):
        raise GlymphError(f"{source}: a diffusion-weighted volume has a NaN or infinite b-vector")
    norms = np.linalg.norm(weighted, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOLERANCE)
    if bad.size:
        index = int(np.flatnonzero(~is_b0)[bad[0]])
        raise GlymphError(
            f"{source}: b-vector of volume {index} has length {norms[bad[0]]:.3f}, not 1; "
            "FSL b-vectors of weighted volumes must be unit vectors"
        )
    directions = np.zeros_like(bvecs, dtype=np.float64)
    directions[~is_b0] = weighted / norms[:, None]
    return directions


def check_signal(data: np.ndarray, source: str) -> None:
    """Reject data holding NaN or infinite values, or no signal at all."""
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise GlymphError(f"{source} contains NaN or infinite values; replace them (e.g. with 0) and re-run")
    if not np.any(data):
        raise GlymphError(f"{source} is all zero; check the file")


def default_gradient_files(dwi_path: Path) -> tuple[Path, Path]:
    """FSL convention: ``scan.nii.gz`` comes with ``scan.bval`` and ``scan.bvec``."""
    stem = dwi_path.with_name(strip_image_suffix(dwi_path))
    return stem.with_suffix(".bval"), stem.with_suffix(".bvec")


def read_dwi(
    path: str | os.PathLike,
    bval: str | os.PathLike | None = None,
    bvec: str | os.PathLike | None = None,
    b0_threshold: float = B0_THRESHOLD,
) -> DWI:
    """Read a DWI: NIfTI with FSL bval/bvec (default: same name, .bval/.bvec) or NRRD DWI."""
    p = existing_file(path, "DWI")
    if is_nrrd(p):
        if bval is not None or bvec is not None:
            raise GlymphError("a NRRD DWI carries its own gradients; do not pass --bval/--bvec")
        return _read_nrrd_dwi(p, b0_threshold)
    if not is_nifti(p):
        raise GlymphError(f"DWI {p}: unsupported format; use NIfTI with bval/bvec, or NRRD")
    default_bval, default_bvec = default_gradient_files(p)
    bval_path = existing_file(bval or default_bval, "b-value file (give it with --bval)")
    bvec_path = existing_file(bvec or default_bvec, "b-vector file (give it with --bvec)")
    volume = read_nifti(p, "DWI")
    if volume.data.ndim != 4:
        raise GlymphError(f"DWI {p} is a 3D image; a DWI needs a 4th dimension holding the volumes")
    check_signal(volume.data, f"DWI {p}")
    bvals, bvecs_fsl = read_fsl_gradients(bval_path, bvec_path, volume.data.shape[3])
    directions = check_gradients(bvals, bvecs_fsl, b0_threshold, f"DWI {p}")
    return DWI(volume, bvals, fsl_to_world(directions, volume.affine), b0_threshold)


def _read_nrrd_dwi(path: Path, b0_threshold: float) -> DWI:
    data, header, spatial, list_axis = read_nrrd(path, "DWI")
    if list_axis is None:
        raise GlymphError(f"DWI {path} is a 3D image; a DWI needs a list axis holding the volumes")
    affine = nrrd_affine(header, spatial)
    data = np.transpose(data, [*spatial, list_axis]).astype(np.float32)
    n = data.shape[3]
    try:
        b_max = float(header["DWMRI_b-value"])
        grads = np.array([[float(v) for v in str(header[f"DWMRI_gradient_{i:04d}"]).split()] for i in range(n)])
    except KeyError as exc:
        raise GlymphError(f"DWI {path} lacks {exc.args[0]} in its header; it is not a Slicer/teem DWI NRRD") from None
    except ValueError:
        raise GlymphError(f"DWI {path} has an unreadable b-value or gradient in its header") from None
    if grads.shape != (n, 3):
        raise GlymphError(f"DWI {path}: each DWMRI_gradient must have 3 components")
    space_to_ras = (
        LPS_TO_RAS if str(header.get("space", "")).lower() in ("left-posterior-superior", "lps") else np.eye(3)
    )
    # pynrrd returns the vectors as written, as rows; NRRD defines them as the matrix columns.
    frame = np.asarray(header.get("measurement frame", np.eye(3)), dtype=np.float64).T
    if not np.all(np.isfinite(grads)):
        raise GlymphError(f"DWI {path} has a NaN gradient in its header")
    norms = np.linalg.norm(grads, axis=1)
    bvals = b_max * norms**2
    check_signal(data, f"DWI {path}")
    unit = np.zeros_like(grads)
    nonzero = norms > 0
    unit[nonzero] = grads[nonzero] / norms[nonzero, None]
    directions = check_gradients(bvals, unit, b0_threshold, f"DWI {path}")
    world = directions @ (space_to_ras @ frame).T
    lengths = np.linalg.norm(world, axis=1, keepdims=True)
    world = np.divide(world, lengths, out=np.zeros_like(world), where=lengths > 0)
    return DWI(Volume(data, affine), bvals, world, b0_threshold)

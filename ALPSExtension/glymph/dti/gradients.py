"""Gradient tables: FSL bval/bvec files, their checks, and the conversion to RAS world directions.

FSL ``bvec`` files give directions in voxel axes, with the first axis flipped when the voxel-to-world
matrix has a positive determinant (FSL's radiological convention):
``g_world = R @ diag(-1, 1, 1) @ b`` if ``det(A) > 0`` else ``R @ b``, where R holds the voxel axes
as RAS unit columns. This is the only place that convention is applied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.image_io import strip_image_suffix
from glymph.volume import nearest_rotation

UNIT_TOLERANCE = 1e-2  # allowed | |b| - 1 | of a non-zero FSL b-vector (dipy uses the same)


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


def default_gradient_files(dwi_path: Path) -> tuple[Path, Path]:
    """FSL convention: ``scan.nii.gz`` comes with ``scan.bval`` and ``scan.bvec``."""
    stem = dwi_path.with_name(strip_image_suffix(dwi_path))
    return stem.with_suffix(".bval"), stem.with_suffix(".bvec")

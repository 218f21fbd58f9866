"""Diffusion-weighted images with their gradient table in the RAS world frame.

Gradients become unit RAS world directions once, here, when a scan is read:

* FSL ``bval``/``bvec`` files beside a NIfTI, converted by ``glymph.dti.gradients``;
* NRRD DWI (as Slicer writes it) gives ``DWMRI_gradient_NNNN`` in the measurement frame, mapped to
  the header's space by the ``measurement frame`` matrix (its vectors are the matrix columns);
  a gradient's squared norm scales ``DWMRI_b-value``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph.defaults import B0_THRESHOLD
from glymph.dti.gradients import check_gradients, default_gradient_files, fsl_to_world, read_fsl_gradients
from glymph.errors import GlymphError
from glymph.image_io import LPS_TO_RAS, existing_file, is_nifti, is_nrrd, nrrd_affine, read_nifti, read_nrrd
from glymph.volume import Volume

log = logging.getLogger("glymph")


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
    # the automatic brain mask of ``mean_b0``, when it was computed while the file was still being
    # read (``glymph.dti.mask_ahead``); a DWI with other volumes (``with_data``, ``select``) has none
    b0_mask: Volume | None = field(default=None, repr=False, compare=False)

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
        """Mean of the b0 volumes (3D, float32)."""
        return Volume(mean_of_volumes(self.data, np.flatnonzero(self.is_b0)), self.affine)

    def with_data(self, data: np.ndarray, bvecs: np.ndarray | None = None) -> DWI:
        """The same scan with new volumes (same grid and b-values) and, if given, new directions."""
        return DWI(Volume(data, self.affine), self.bvals, self.bvecs if bvecs is None else bvecs, self.b0_threshold)

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


def mean_of_volumes(data: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """Mean of the ``volumes`` (indices along the 4th axis) of ``data``, as float32, added one at a
    time in float64: the same values whatever the array's memory layout or length (so the first
    volumes of a file alone give what the whole file gives)."""
    total = np.zeros(data.shape[:3])
    for i in volumes:
        total += data[..., i]
    return (total / len(volumes)).astype(np.float32)


def check_signal(data: np.ndarray, source: str) -> None:
    """Reject data holding NaN or infinite values, or no signal at all."""
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise GlymphError(f"{source} contains NaN or infinite values; replace them (e.g. with 0) and re-run")
    if not np.any(data):
        raise GlymphError(f"{source} is all zero; check the file")


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

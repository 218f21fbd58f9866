"""Diffusion tensor model: weighted linear least squares, vectorised over all voxels.

Written here rather than calling ``dipy.reconst.dti`` because dipy's WLS loops in Python over
voxel blocks with a pseudo-inverse per voxel; the normal equations below are assembled for a whole
block of voxels with one matrix product, which is what makes the fit several times faster.
dipy and MRtrix3 ``dwi2tensor`` are the references the tests compare against.

Tensors are in the RAS world frame (the frame of the gradient directions), in mm^2/s. Six-component
arrays use FSL's order ``xx, xy, xz, yy, yz, zz`` unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from glymph.dti.eigen import symmetric_eig3
from glymph.errors import GlymphError
from glymph.parallel import thread_map

FSL_ORDER = ("xx", "xy", "xz", "yy", "yz", "zz")
MRTRIX_ORDER = ("xx", "yy", "zz", "xy", "xz", "yz")
_INDEX = {"xx": (0, 0), "xy": (0, 1), "xz": (0, 2), "yy": (1, 1), "yz": (1, 2), "zz": (2, 2)}
_B_UNIT = 1e-3  # fit in ms/um^2 and um^2/ms so that all design columns are of order one
_CHUNK = 32768  # voxels per block: bounds memory at ~20 MB per block for 65 volumes
_EIG_CHUNK = 65536  # tensors per eigen-decomposition block: blocks shared out among the threads


def reorder(tensor6: np.ndarray, source: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
    """Reorder the last axis of six-component tensors from one named order to another."""
    return tensor6[..., [source.index(name) for name in target]]


def to_matrix(tensor6: np.ndarray) -> np.ndarray:
    """(..., 6) FSL-order components to symmetric (..., 3, 3) matrices."""
    m = np.empty((*tensor6.shape[:-1], 3, 3), dtype=tensor6.dtype)
    for c, name in enumerate(FSL_ORDER):
        i, j = _INDEX[name]
        m[..., i, j] = m[..., j, i] = tensor6[..., c]
    return m


def from_matrix(matrix: np.ndarray) -> np.ndarray:
    """Symmetric (..., 3, 3) matrices to (..., 6) FSL-order components."""
    return np.stack([matrix[..., i, j] for i, j in (_INDEX[n] for n in FSL_ORDER)], axis=-1)


def rotate(tensor6: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Express tensors in the frame whose axes are the columns of ``rotation``: R^T D R."""
    m = to_matrix(tensor6)
    return from_matrix(np.einsum("ai,...ab,bj->...ij", rotation, m, rotation))


def design_matrix(bvals: np.ndarray, bvecs: np.ndarray) -> np.ndarray:
    """(N, 7) design of ln S = -b g^T D g + ln S0, columns Dxx, Dxy, Dxz, Dyy, Dyz, Dzz, ln S0.

    b in ms/um^2 (b / 1000 with b in s/mm^2), so the fitted D is in um^2/ms.
    """
    b = np.asarray(bvals, dtype=np.float64) * _B_UNIT
    g = np.asarray(bvecs, dtype=np.float64)
    x, y, z = g[:, 0], g[:, 1], g[:, 2]
    return np.column_stack(
        [-b * x * x, -2 * b * x * y, -2 * b * x * z, -b * y * y, -2 * b * y * z, -b * z * z, np.ones_like(b)]
    )


@dataclass(frozen=True)
class TensorFit:
    """Fitted tensors on a voxel grid: ``tensor`` (I, J, K, 6) FSL order, mm^2/s, RAS frame;
    ``s0`` (I, J, K) the fitted non-weighted signal; ``mask`` the voxels fitted (zero elsewhere)."""

    tensor: np.ndarray
    s0: np.ndarray
    mask: np.ndarray

    @cached_property
    def _eig(self) -> tuple[np.ndarray, np.ndarray]:
        evals = np.zeros((*self.mask.shape, 3))
        evecs = np.zeros((*self.mask.shape, 3, 3))
        elements = self.tensor[self.mask].astype(np.float64).T  # (6, V): one contiguous row per element

        def decompose(start: int) -> tuple[np.ndarray, np.ndarray]:
            return symmetric_eig3(*elements[:, start : start + _EIG_CHUNK])

        pieces = thread_map(decompose, range(0, elements.shape[1], _EIG_CHUNK))
        w, v = np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])
        evals[self.mask] = np.clip(w, 0.0, None)  # negative ones clipped as in dipy
        evecs[self.mask] = v
        return evals, evecs

    @property
    def evals(self) -> np.ndarray:
        """(I, J, K, 3) eigenvalues, largest first, clipped at 0 (mm^2/s)."""
        return self._eig[0]

    @property
    def evecs(self) -> np.ndarray:
        """(I, J, K, 3, 3) unit eigenvectors as columns, RAS world frame, in eigenvalue order."""
        return self._eig[1]

    def fa(self) -> np.ndarray:
        """Fractional anisotropy in [0, 1] (computed once; read-only)."""
        return self._fa

    @cached_property
    def _fa(self) -> np.ndarray:
        ev = self.evals
        num = np.sqrt(
            ((ev[..., 0] - ev[..., 1]) ** 2 + (ev[..., 1] - ev[..., 2]) ** 2 + (ev[..., 2] - ev[..., 0]) ** 2) / 2
        )
        den = np.sqrt((ev**2).sum(axis=-1))
        fa = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        fa.setflags(write=False)
        return fa

    def md(self) -> np.ndarray:
        """Mean diffusivity (mm^2/s)."""
        return self.evals.mean(axis=-1)

    def colour_fa(self) -> np.ndarray:
        """(I, J, K, 3) RGB in [0, 1]: |principal eigenvector| (R = x L-R, G = y A-P, B = z S-I) x FA."""
        return np.abs(self.evecs[..., :, 0]) * self.fa()[..., None]


MIN_WEIGHT = 1e-8  # relative WLS weight floor


class TensorModel:
    """Diffusion tensor model for one gradient table (b in s/mm^2, unit RAS directions).

    ``iterations`` is the number of weighted refits after the ordinary least-squares start:
    1 is the classic WLS (dipy's ``WLS``), 2 matches MRtrix3 ``dwi2tensor``'s default.
    """

    def __init__(self, bvals: np.ndarray, bvecs: np.ndarray, iterations: int = 1) -> None:
        self.design = design_matrix(bvals, bvecs)
        if np.linalg.matrix_rank(self.design) < 7:
            raise GlymphError(
                "the gradient table cannot determine a tensor: it needs a b0 and at least 6 "
                "non-collinear diffusion directions"
            )
        if iterations < 0:
            raise ValueError("iterations must be >= 0")
        self.iterations = iterations
        self._outer = np.einsum("ni,nj->nij", self.design, self.design).reshape(-1, 49)  # x_m x_m^T per measurement
        self._pinv = np.linalg.pinv(self.design)

    def fit(self, data: np.ndarray, mask: np.ndarray | None = None) -> TensorFit:
        """Fit (I, J, K, N) signals; voxels outside ``mask`` are left at zero."""
        spatial = data.shape[:-1]
        if data.shape[-1] != self.design.shape[0]:
            raise ValueError(f"data has {data.shape[-1]} volumes, gradient table has {self.design.shape[0]}")
        mask = np.ones(spatial, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        # volume-major (N, V): one gather per volume, contiguous for NIfTI's volume-by-volume storage
        signals = np.empty((data.shape[-1], int(mask.sum())), dtype=data.dtype)

        def gather(n: int) -> None:
            signals[n] = data[..., n][mask]

        thread_map(gather, range(data.shape[-1]))
        min_signal = float(np.min(signals, where=signals > 0, initial=np.inf))
        min_signal = min_signal if np.isfinite(min_signal) else 1.0
        params = np.empty((signals.shape[1], 7))

        def fit_block(start: int) -> None:
            block = np.log(np.maximum(signals[:, start : start + _CHUNK].astype(np.float64), min_signal))
            params[start : start + _CHUNK] = self._fit_block(block)

        thread_map(fit_block, range(0, signals.shape[1], _CHUNK), blas_threads=1)
        tensor = np.zeros((*spatial, 6), dtype=np.float32)
        s0 = np.zeros(spatial, dtype=np.float32)
        tensor[mask] = params[:, :6] * _B_UNIT
        s0[mask] = np.exp(params[:, 6])
        return TensorFit(tensor, s0, mask)

    def _fit_block(self, y: np.ndarray) -> np.ndarray:
        # log signals (N, V) and parameters (7, V): every step below is a contiguous operation over voxels
        ordinary = params = self._pinv @ y
        for _ in range(self.iterations):
            log_pred = self.design @ params
            # weights = predicted signal squared, scaled per voxel (the scale does not change the
            # solution); floored so that a voxel with zero signals (an image edge after motion
            # correction) cannot leave the normal equations singular
            weights = np.maximum(np.exp(2.0 * (log_pred - log_pred.max(axis=0))), MIN_WEIGHT)
            normal = (self._outer.T @ weights).reshape(7, 7, -1)
            params = solve_spd(normal, self.design.T @ (weights * y))
        failed = ~np.isfinite(params).all(axis=0)
        params[:, failed] = ordinary[:, failed]  # keep the OLS estimate where weighting broke down
        return params.T


def solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve a batch of symmetric positive-definite systems a[:, :, v] x[:, v] = b[:, v].

    ``a`` is (n, n, V) and ``b`` (n, V), batch last. Gaussian elimination without pivoting (safe
    for SPD matrices), vectorised over the batch. Written by hand because ``numpy.linalg.solve``
    calls LAPACK once per small matrix; for hundreds of thousands of 7x7 systems this is about
    twice as fast.
    """
    a = a.copy()
    b = b.copy()
    n = a.shape[0]
    for k in range(n - 1):
        factor = a[k + 1 :, k] / a[k, k]
        a[k + 1 :, k:] -= factor[:, None] * a[k, None, k:]
        b[k + 1 :] -= factor * b[k]
    x = np.empty_like(b)
    for k in range(n - 1, -1, -1):
        x[k] = (b[k] - (a[k, k + 1 :] * x[k + 1 :]).sum(axis=0)) / a[k, k]
    return x

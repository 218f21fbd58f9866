"""Tensors from a DWI: ``fit_dti`` -> ``DTIResult`` (tensors in the RAS frame, FA, MD, colour-FA, mask)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from glymph.defaults import GRADIENT_CHECK, GRADIENT_CHECKS, MAX_B
from glymph.dti.dwi import DWI
from glymph.dti.gradient_check import changed_table, check_gradient_table
from glymph.dti.gradients import fsl_frame
from glymph.dti.preprocess import Motion, Preprocessing, PreprocessingRecord, preprocess_dwi
from glymph.dti.tensor import FSL_ORDER, TensorFit, TensorModel
from glymph.errors import GlymphError
from glymph.progress import step
from glymph.volume import Volume, mask_on_grid

AUTO_MASK = "auto: dipy median_otsu (radius 2, 1 pass) on the mean b0, largest component, holes filled"

log = logging.getLogger("glymph")


@dataclass(frozen=True)
class DTIResult:
    """A tensor fit on the DWI grid: tensors (FSL order, RAS frame, mm^2/s), FA, MD, colour-FA, mask."""

    fit: TensorFit
    affine: np.ndarray
    bvals_used: np.ndarray
    mask_source: str  # "auto (median_otsu)" or the mask file
    iterations: int
    preprocessing: PreprocessingRecord | None = field(default=None, repr=False)  # what was done to the DWI first
    mean_b0: Volume | None = field(default=None, repr=False)  # of the DWI as fitted (None for given tensors)
    gradient_check: dict | None = None  # the check's scores and what was done (None: not run)

    def _volume(self, data: np.ndarray) -> Volume:
        return Volume(data, self.affine)

    @property
    def tensor(self) -> Volume:
        return self._volume(self.fit.tensor)

    @property
    def mask(self) -> Volume:
        return self._volume(self.fit.mask)

    @classmethod
    def from_tensor(cls, tensor: Volume, mask: Volume | None = None) -> DTIResult:
        """Wrap tensors fitted elsewhere (e.g. a Slicer DTI node): (I, J, K, 6), FSL order, RAS, mm^2/s.

        Without ``mask`` the fitted voxels are those with a non-zero tensor.
        """
        data = np.asarray(tensor.data, dtype=np.float32)
        if data.ndim != 4 or data.shape[3] != 6:
            raise GlymphError("tensors must be a 4D image with 6 components (xx, xy, xz, yy, yz, zz)")
        inside = np.any(data != 0, axis=3) if mask is None else mask_on_grid(mask, tensor, "tensors").data
        if not inside.any():
            raise GlymphError("the tensor volume is empty (all zero)")
        fit = TensorFit(
            np.where(inside[..., None], data, 0.0).astype(np.float32), np.zeros(inside.shape, np.float32), inside
        )
        return cls(fit, tensor.affine, np.zeros(0), "given" if mask is not None else "non-zero tensors", 0)

    def fa(self) -> Volume:
        return self._volume(self.fit.fa().astype(np.float32))

    def md(self) -> Volume:
        return self._volume(self.fit.md().astype(np.float32))

    def colour_fa(self) -> Volume:
        return self._volume(self.fit.colour_fa().astype(np.float32))

    def describe(self) -> dict:
        return {
            "fit": f"weighted linear least squares: OLS start, {self.iterations} reweighting(s) by the predicted signal",
            "tensor_file_order": ",".join(FSL_ORDER),
            "tensor_frame": "RAS world (scanner) axes",
            "units": "mm^2/s",
            "volumes_used": int(self.bvals_used.size),
            "b_values_used": sorted({round(float(b)) for b in self.bvals_used}),
            "mask": self.mask_source,
            "mask_voxels": int(self.fit.mask.sum()),
            "preprocessing": self.preprocessing.describe() if self.preprocessing else {"steps": []},
            "gradient_check": self.gradient_check or {"checked": False, "action": "off"},
        }

    @property
    def motion(self) -> Motion | None:
        """The head motion found by ``--motion-correct`` (None when it did not run)."""
        return self.preprocessing.motion if self.preprocessing else None


def fit_dti(
    dwi: DWI,
    mask: Volume | None = None,
    max_b: float = MAX_B,
    iterations: int = 1,
    mask_source: str | None = None,
    preprocessing: Preprocessing | None = None,
    gradient_check: str = GRADIENT_CHECK,
    on_fitted: Callable[[DTIResult], object] | None = None,
) -> DTIResult:
    """Fit tensors by WLS on shells up to ``max_b`` s/mm^2, inside ``mask`` or an automatic brain
    mask, after the ``preprocessing`` steps (``glymph.dti.preprocess``; none by default).

    ``gradient_check`` (``glymph.dti.gradient_check``): a table that does not fit the anatomy
    (flipped or swapped axes) stops the fit with a message naming the change (``stop``), is
    changed and the fit repeated (``fix``), or is not checked (``off``).

    ``on_fitted`` is called with each fit as soon as it is made, before the check (``run_alps``
    starts the registration there, so that the two run at once on two cores); the result has the
    same tensors as the last fit it was called with.
    """
    if gradient_check not in GRADIENT_CHECKS:
        raise GlymphError(f"unknown gradient check '{gradient_check}'; choose one of: {', '.join(GRADIENT_CHECKS)}")
    result = _fit(dwi, mask, max_b, iterations, mask_source, preprocessing)
    if on_fitted is not None:
        on_fitted(result)
    if gradient_check == "off":
        return result
    with step("checking the gradient table against the white matter"):
        check = check_gradient_table(result.fit, result.affine)
    record = {**check.describe(), "action": "none"}
    if check.wrong and gradient_check == "stop":
        raise GlymphError(
            f"the gradient table does not fit the anatomy: streamlines run {check.ratio:.0%} as far as with the "
            f"b-vectors changed by '{check.best.describe()}' (axes of the image's voxels, as the rows of an FSL .bvec "
            "file); correct the b-vector file, or pass --fix-gradients to apply that change "
            "(--no-gradient-check skips this check)"
        )
    if check.wrong:
        fixed = changed_table(dwi, check.best)
        with step(f"refitting with the gradient table changed by '{check.best.describe()}'"):
            result = _fit(fixed, mask, max_b, iterations, mask_source, preprocessing)
        if on_fitted is not None:
            on_fitted(result)
        record["action"] = f"fixed: {check.best.describe()}"
        record["bvecs_fsl_fixed"] = np.round(
            fixed.bvecs @ fsl_frame(dwi.affine), 6
        ).tolist()  # (N, 3), as FSL rows x, y, z
    return replace(result, gradient_check=record)


def _fit(
    dwi: DWI,
    mask: Volume | None,
    max_b: float,
    iterations: int,
    mask_source: str | None,
    preprocessing: Preprocessing | None,
) -> DTIResult:
    from glymph.masks import brain_mask_from_b0

    record = None
    if preprocessing is not None and preprocessing.any:
        dwi, record = preprocess_dwi(dwi, preprocessing, mask)
    used = dwi.up_to_b(max_b)
    mean_b0 = used.mean_b0()
    if mask is None:
        if dwi.b0_mask is not None:
            mask = dwi.b0_mask
            log.info("brain mask from the b0: made while the DWI was read")
        else:
            with step("brain mask from the b0"):
                mask = brain_mask_from_b0(mean_b0)
        mask_source = AUTO_MASK
    else:
        mask = mask_on_grid(mask, dwi.volume, "DWI")
    inside = np.asarray(mask.data, dtype=bool)
    with step(f"fitting tensors in {int(inside.sum()):,} voxels ({used.bvals.size} volumes)"):
        fit = TensorModel(used.bvals, used.bvecs, iterations=iterations).fit(used.data, inside)
    return DTIResult(fit, dwi.affine, used.bvals, mask_source or "given", iterations, record, mean_b0)

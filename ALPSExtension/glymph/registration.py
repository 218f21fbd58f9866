"""Affine registration of a subject image to the shipped MNI152 template (SimpleITK).

The transform is kept as a 4x4 matrix mapping template RAS mm to subject RAS mm; SimpleITK's LPS
frame is converted here and nowhere else. Registration runs on a RAS-ordered copy of the subject
image (an exact permutation), so the result does not depend on the scan's storage order.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from glymph.errors import GlymphError
from glymph.templates import mni152
from glymph.volume import Volume, nearest_rotation, reoriented

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
SEED = 20170101  # metric sampling is random; a fixed seed makes every run give the same numbers
SAMPLING = 0.25  # share of the template's brain voxels sampled by the metric
# The affine stage's full-resolution level samples 10 % (about 23,000 voxels of the 2 mm template's
# brain): on four posed 2 mm phantoms the transform moved 0.03-0.04 mm against 25 %, the spread over
# sampling seeds grew from 0.02-0.035 to 0.03-0.047 mm, and the registration took about 1 s less
# (measured by a script outside the repository).
AFFINE_SAMPLING = [SAMPLING, SAMPLING, 0.10]  # per level of the affine stage, coarse to fine
MIN_DICE = 0.80  # brain-mask overlap below this means the registration failed
MIN_CORRELATION = 0.30  # correlation with the template contrast below this means it failed
SCALE_LIMITS = (0.67, 1.5)  # a head more than 1.5x larger or smaller than MNI152 is a failure


@dataclass(frozen=True)
class AffineMap:
    """An affine map from template RAS mm to subject RAS mm."""

    matrix: np.ndarray

    def to_subject(self, points: np.ndarray) -> np.ndarray:
        """Map template points (..., 3) to subject RAS mm."""
        return np.asarray(points, dtype=np.float64) @ self.matrix[:3, :3].T + self.matrix[:3, 3]

    def to_template(self, points: np.ndarray) -> np.ndarray:
        """Map subject points (..., 3) to template RAS mm."""
        inv = np.linalg.inv(self.matrix)
        return np.asarray(points, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]

    @property
    def rotation(self) -> np.ndarray:
        """Rotation part (polar decomposition) of the linear map: the template axes as subject-RAS columns."""
        return nearest_rotation(self.matrix[:3, :3])

    @property
    def scales(self) -> np.ndarray:
        """Principal scale factors of the linear map (singular values, largest first)."""
        return np.linalg.svd(self.matrix[:3, :3], compute_uv=False)


@dataclass(frozen=True)
class Registration:
    """A registration result with its quality measures (computed in template space)."""

    transform: AffineMap
    contrast: str
    dice: float  # overlap of the subject brain mask (mapped to template) with the template mask
    correlation: (
        float  # |Pearson correlation| of the registered image with the template contrast, in the template brain
    )
    metric: float  # final Mattes mutual information (negative; lower is better)

    @classmethod
    def from_dict(cls, values: dict) -> Registration:
        """Inverse of ``as_dict`` (e.g. from a saved scene or sidecar)."""
        return cls(
            AffineMap(np.asarray(values["template_to_subject_ras"], dtype=np.float64)),
            values["contrast"],
            values["brain_dice"],
            values["correlation"],
            values["mattes_mi"],
        )

    def as_dict(self) -> dict:
        return {
            "template": "MNI152 ICBM 2009a nonlinear symmetric, 2 mm",
            "contrast": self.contrast,
            "type": "affine",
            "template_to_subject_ras": self.transform.matrix.tolist(),
            "scales": self.transform.scales.round(4).tolist(),
            "brain_dice": round(self.dice, 4),
            "correlation": round(self.correlation, 4),
            "mattes_mi": round(self.metric, 5),
        }


def to_sitk(volume: Volume):
    """A SimpleITK image (LPS physical frame) of a 3D volume."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(volume.data, dtype=np.float32).transpose(2, 1, 0)))
    lps = LPS @ volume.affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    image.SetDirection((lps[:3, :3] / spacing).ravel().tolist())
    return image


def _affine_from_sitk(transform) -> np.ndarray:
    """4x4 RAS matrix of a SimpleITK transform (which maps fixed LPS points to moving LPS points)."""
    m = np.eye(4)
    m[:3, :3] = np.reshape(transform.GetMatrix(), (3, 3))
    centre = np.asarray(transform.GetCenter())
    m[:3, 3] = np.asarray(transform.GetTranslation()) + centre - m[:3, :3] @ centre
    return LPS @ m @ LPS


def _resample_to_template(subject: Volume, transform: AffineMap, order: int) -> np.ndarray:
    """Subject data sampled on the template grid through ``transform`` (scipy, voxel space)."""
    from scipy.ndimage import affine_transform

    template = mni152().t1
    vox = np.linalg.inv(subject.affine) @ transform.matrix @ template.affine
    return affine_transform(
        np.asarray(subject.data, dtype=np.float32),
        vox[:3, :3],
        vox[:3, 3],
        output_shape=template.shape,
        order=order,
        mode="constant",
    )


_DWI_ADVICE = "check that the scan is a whole-brain DWI and the brain mask is right (--mask), or place the ROIs yourself with --rois"
ADVICE = {
    "fa": _DWI_ADVICE,
    "b0": _DWI_ADVICE,
    "t1": "check that the image is a T1-weighted head scan and the brain mask is right (--mask)",
}


_ONE_THREAD_LOCK = threading.Lock()
_one_thread_users: list[int] = []  # the thread count to restore, once per registration running


@contextmanager
def one_thread():
    """Run SimpleITK single-threaded: ITK adds per-thread partial sums (image moments, the metric)
    in the order the threads finish, so with two threads three identical registrations of a 1 mm
    head moved points by up to 5.3 mm; with one they are identical. Cost: 12 -> 20 s on that head,
    2.5 -> 3.6 s for the ALPS registration (benchmarks/registration_threads.py, alps_pipeline.py);
    a cluster runs one subject per core anyway. N4 bias correction (``glymph.preprocess``) runs so
    too: its field differed between one and two threads, and a cohort task (one thread) would not
    give a single run's numbers. Calls running at once on threads of one process
    (``glymph.epvs.preprocess.prepare``) keep the setting until the last one ends."""
    import SimpleITK as sitk

    with _ONE_THREAD_LOCK:
        _one_thread_users.append(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        with _ONE_THREAD_LOCK:
            threads = _one_thread_users.pop()
            if not _one_thread_users:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def register_to_mni(image: Volume, brain_mask: Volume, contrast: str = "fa") -> Registration:
    """Affine registration of a subject FA (``contrast='fa'``, to the template white matter map),
    b0 (``'b0'``) or T1 (``'t1'``, both to the template T1) to MNI152, by Mattes mutual information.

    Rigid (moments-centred) then affine, multi-resolution. Raises GlymphError if the result fails
    the quality checks (brain overlap, correlation, plausible scale).
    """
    import SimpleITK as sitk

    template = mni152()
    target = {"fa": template.wm, "b0": template.t1, "t1": template.t1}.get(contrast)
    if target is None:
        raise GlymphError(f"unknown registration contrast '{contrast}'; use 'fa', 'b0' or 't1'")
    fixed = to_sitk(target)
    fixed_mask = sitk_mask(template.brain_mask)
    masked = image.with_data(np.where(brain_mask.data, image.data, 0.0).astype(np.float32))
    moving = to_sitk(reoriented(masked, "RAS"))

    with one_thread():
        rigid = sitk.CenteredTransformInitializer(
            fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
        )
        _run(fixed, fixed_mask, moving, rigid, shrink=[4, 2], smooth=[2.0, 1.0])
        affine = _affine_from_rigid(rigid)
        metric = _run(
            fixed, fixed_mask, moving, affine, shrink=[4, 2, 1], smooth=[2.0, 1.0, 0.0], sampling=AFFINE_SAMPLING
        )

    transform = AffineMap(_affine_from_sitk(affine))
    registration = Registration(transform, contrast, *_quality(masked, brain_mask, target, transform), metric)
    _check(registration, ADVICE[contrast])
    return registration


def register_rigid(moving: Volume, fixed: Volume, fixed_mask: Volume | None = None) -> AffineMap:
    """Rigid registration of ``moving`` (e.g. a T2) to ``fixed`` (the T1 of the same subject) by
    Mattes mutual information; the map takes fixed RAS mm to moving RAS mm."""
    import SimpleITK as sitk

    fixed_image = to_sitk(reoriented(fixed, "RAS"))
    moving_image = to_sitk(reoriented(moving, "RAS"))
    mask = sitk_mask(reoriented(fixed_mask, "RAS")) if fixed_mask is not None else None
    with one_thread():
        rigid = sitk.CenteredTransformInitializer(
            fixed_image, moving_image, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
        _run(fixed_image, mask, moving_image, rigid, shrink=[4, 2, 1], smooth=[2.0, 1.0, 0.0])
    return AffineMap(_affine_from_sitk(rigid))


def register_volume(moving: Volume, fixed: Volume, fixed_mask: Volume, model: str = "affine") -> AffineMap:
    """Two volumes of one session on one grid (a DWI volume to its b0 reference): rigid, centred on
    the grid, then for ``model='affine'`` affine (eddy-current shears and scaling), by Mattes mutual
    information (their contrasts differ); the map takes fixed RAS mm to moving RAS mm."""
    import SimpleITK as sitk

    fixed_image, moving_image = to_sitk(fixed), to_sitk(moving)
    mask = sitk_mask(fixed_mask)
    with one_thread():
        rigid = sitk.Euler3DTransform()
        centre = [(n - 1) / 2 for n in fixed_image.GetSize()]
        rigid.SetCenter(fixed_image.TransformContinuousIndexToPhysicalPoint(centre))
        _run(fixed_image, mask, moving_image, rigid, shrink=[2, 1], smooth=[1.0, 0.0])
        if model == "rigid":
            return AffineMap(_affine_from_sitk(rigid))
        affine = _affine_from_rigid(rigid)
        _run(fixed_image, mask, moving_image, affine, shrink=[1], smooth=[0.0])
    return AffineMap(_affine_from_sitk(affine))


def _affine_from_rigid(rigid):
    """A SimpleITK affine transform that starts where ``rigid`` ended."""
    import SimpleITK as sitk

    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    return affine


def sitk_mask(mask: Volume):
    """A uint8 SimpleITK mask image of a boolean volume."""
    import SimpleITK as sitk

    return sitk.Cast(to_sitk(mask.with_data(np.asarray(mask.data, dtype=np.float32))), sitk.sitkUInt8)


def _run(
    fixed, fixed_mask, moving, transform, shrink: list[int], smooth: list[float], sampling: list[float] | None = None
) -> float:
    """Optimise ``transform`` (in place), multi-resolution Mattes MI; return the final metric.
    ``sampling``: the share of the fixed image's voxels sampled at each level (default 25 %)."""
    method = _method(fixed_mask, shrink, smooth, sampling or [SAMPLING] * len(shrink))
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)
    return float(method.GetMetricValue())


def _method(fixed_mask, shrink: list[int], smooth: list[float], sampling: list[float], iterations: int = 100):
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(sampling, SEED)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(smooth)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def _quality(image: Volume, mask: Volume, target: Volume, transform: AffineMap) -> tuple[float, float]:
    template_mask = mni152().brain_mask.data
    warped_mask = _resample_to_template(mask.with_data(mask.data.astype(np.float32)), transform, order=1) > 0.5
    dice = 2.0 * np.logical_and(warped_mask, template_mask).sum() / max(warped_mask.sum() + template_mask.sum(), 1)
    both = warped_mask & template_mask
    warped = _resample_to_template(image, transform, order=1)[both]
    reference = target.data[both]
    if both.sum() < 100 or warped.std() == 0:
        return float(dice), 0.0
    # b0 (T2-like) against the T1 template is anti-correlated: the strength of the relation counts
    return float(dice), abs(float(np.corrcoef(warped, reference)[0, 1]))


def _check(registration: Registration, advice: str) -> None:
    scales = registration.transform.scales
    problems = []
    if registration.dice < MIN_DICE:
        problems.append(f"brain overlap Dice {registration.dice:.2f} < {MIN_DICE}")
    if registration.correlation < MIN_CORRELATION:
        problems.append(f"correlation with the template {registration.correlation:.2f} < {MIN_CORRELATION}")
    if scales.min() < SCALE_LIMITS[0] or scales.max() > SCALE_LIMITS[1]:
        problems.append(f"implausible scale factors {np.round(scales, 2).tolist()}")
    if problems:
        raise GlymphError("registration to the MNI152 template failed (" + "; ".join(problems) + f"); {advice}")

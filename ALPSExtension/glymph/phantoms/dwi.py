"""DWI phantoms with a known DTI-ALPS index, built on the real MNI152 anatomy shipped with glymph.

``alps_phantom`` makes a DWI whose tissue contrast (b0 and diffusivities) follows the MNI152 grey
and white matter maps, posed in the scanner with a chosen head pose, with a known DTI-ALPS index
per hemisphere. The truth is set in template (anatomical) axes in two narrow tracts per
hemisphere, at the level of the lateral ventricle bodies, that just hold the ALPS ROI spheres of
both built-in ROI sets (1.5 mm to spare on the tightest side):

* projection fibres (|x| in [20, 32) mm): principal direction S-I,
* association fibres (|x| in [32, 44] mm): principal direction A-P,

with y in [-24, 0] mm and z in [16, 32] mm (MNI). In the tracts the tissue is pure white matter
with eigenvalues lambda_par along the fibre, and ``alps * lambda_perp`` along L-R and lambda_perp
along the remaining axis, so ``mean(Dxx_proj, Dxx_assoc) / mean(Dyy_proj, Dzz_assoc)`` equals
``alps`` in that hemisphere (x < 0 is left). Around them lies white matter fanning out from the
centre, grey matter and CSF, so that ROIs placed a few millimetres off the tracts read a wrong
index (a 5 mm move toward the other tract, or 15 mm along y, changes it by 10 % or more).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from glymph.dti.dwi import DWI
from glymph.phantoms.deformation import Deformation
from glymph.phantoms.geometry import rotation_matrix
from glymph.templates import mni152
from glymph.volume import Volume

LAMBDA_PAR = 1.7e-3  # mm^2/s, white matter axial diffusivity
LAMBDA_PERP = 0.3e-3  # mm^2/s, white matter radial diffusivity
GM_DIFFUSIVITY = 0.8e-3
CSF_DIFFUSIVITY = 3.0e-3
S0 = {"wm": 700.0, "gm": 850.0, "csf": 1600.0}  # T2-weighted b0 contrast


@dataclass(frozen=True)
class TractZones:
    """Where the two ALPS tracts lie in template space (mm): projection for |x| in [x_inner,
    border), association for |x| in [border, x_outer], over y and z ranges."""

    x_inner: float = 20.0
    border: float = 32.0
    x_outer: float = 44.0
    y: tuple[float, float] = (-24.0, 0.0)
    z: tuple[float, float] = (16.0, 32.0)

    @classmethod
    def random(cls, rng: np.random.Generator) -> TractZones:
        """Edges moved at random, always holding the 5 mm spheres of both built-in ROI sets."""
        return cls(
            float(rng.uniform(18.5, 21.0)),
            float(rng.uniform(31.0, 33.0)),
            float(rng.uniform(43.0, 47.0)),
            (float(rng.uniform(-30.0, -20.0)), float(rng.uniform(-4.0, 4.0))),
            (float(rng.uniform(12.0, 19.0)), float(rng.uniform(30.0, 36.0))),
        )


ZONES = TractZones()


@dataclass(frozen=True)
class HeadPose:
    """Where the head sits in the scanner: template RAS -> scanner RAS = shift + R (scale x)."""

    tilt_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0

    @property
    def rotation(self) -> np.ndarray:
        return rotation_matrix(self.tilt_deg)

    def matrix(self) -> np.ndarray:
        """4x4 map from template RAS mm to scanner RAS mm."""
        m = np.eye(4)
        m[:3, :3] = self.rotation * self.scale
        m[:3, 3] = self.shift_mm
        return m

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        max_tilt_deg: float = 15.0,
        max_shift_mm: float = 10.0,
        max_scale_change: float = 0.1,
    ) -> HeadPose:
        """A random pose: each angle, shift and the scale change drawn uniformly within the limits."""
        return cls(
            tuple(rng.uniform(-max_tilt_deg, max_tilt_deg, 3)),
            tuple(rng.uniform(-max_shift_mm, max_shift_mm, 3)),
            float(1.0 + rng.uniform(-max_scale_change, max_scale_change)),
        )


@dataclass(frozen=True)
class DWIPhantom:
    """A phantom DWI with its truth: the ALPS index per hemisphere in anatomical axes."""

    dwi: DWI
    alps_left: float
    alps_right: float
    pose: HeadPose
    noise_sigma: float
    brain_mask: np.ndarray = field(repr=False)
    deformation: Deformation | None = None

    @property
    def alps(self) -> float:
        return (self.alps_left + self.alps_right) / 2

    def to_scanner(self, template_points: np.ndarray) -> np.ndarray:
        """Scanner RAS mm (M, 3) of template (MNI152) points (M, 3): through the deformation, then the pose."""
        q = np.atleast_2d(np.asarray(template_points, dtype=np.float64))
        if self.deformation is not None:
            q = self.deformation.forward(q)
        m = self.pose.matrix()
        return q @ m[:3, :3].T + m[:3, 3]

    def true_rois(self, roi_set: str = "chen2025") -> dict[str, np.ndarray]:
        """Where the built-in ROI set's centres truly lie in this scan (scanner RAS mm)."""
        from glymph.defaults import ROI_SETS

        labels = list(ROI_SETS[roi_set])
        points = self.to_scanner(np.array([ROI_SETS[roi_set][label] for label in labels]))
        return dict(zip(labels, points, strict=True))


def gradient_directions(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) unit directions spread over the hemisphere by electrostatic repulsion (dipy)."""
    from dipy.core.sphere import HemiSphere, disperse_charges

    rng = np.random.default_rng(seed)
    theta = np.arccos(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    hemi, _ = disperse_charges(HemiSphere(theta=theta, phi=phi), 5000)
    return hemi.vertices


def scanner_grid(
    pose: HeadPose,
    voxel_mm: float | tuple[float, float, float],
    grid_rotation_deg: tuple[float, float, float],
    margin_mm: float = 10.0,
    slab_z_mm: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine and shape of an acquisition grid that covers the posed template brain (or, given
    ``slab_z_mm``, only its part between those template z levels: partial coverage)."""
    t = mni152()
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    inside = np.argwhere(t.brain_mask.data)
    lo, hi = t.t1.voxel_to_world(inside.min(0)), t.t1.voxel_to_world(inside.max(0))
    if slab_z_mm is not None:
        lo[2], hi[2] = max(lo[2], slab_z_mm[0]), min(hi[2], slab_z_mm[1])
    world = pose.matrix()[:3, :3] @ (lo + (hi - lo) * corners).T + pose.matrix()[:3, 3:]
    axes = rotation_matrix(grid_rotation_deg)
    in_grid = axes.T @ world  # corner coordinates along the grid axes
    spacing = np.broadcast_to(np.asarray(voxel_mm, dtype=np.float64), (3,))
    margin = np.array([margin_mm, margin_mm, 0.0 if slab_z_mm is not None else margin_mm])
    start = in_grid.min(1) - margin
    shape = tuple(int(n) for n in np.ceil((in_grid.max(1) + margin - start) / spacing) + 1)
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing
    affine[:3, 3] = axes @ start
    return affine, shape  # type: ignore[return-value]


FibreField = Callable[[np.ndarray], np.ndarray]


def _white_matter_direction(p: np.ndarray, zone: np.ndarray, fibres: FibreField | None = None) -> np.ndarray:
    """Principal fibre direction (template axes) of white matter at template points p (M, 3)."""
    if fibres is not None:
        direction = fibres(p)  # zero where no bundle runs: isotropic
    else:
        direction = p - np.array([0.0, -15.0, 10.0])  # fanning out from the centre
        direction[np.abs(p[:, 0]) < 12.0] = (1.0, 0.0, 0.0)  # midline: commissural, L-R
    direction[zone == 1] = (0.0, 0.0, 1.0)  # projection: S-I
    direction[zone == 2] = (0.0, 1.0, 0.0)  # association: A-P
    norm = np.linalg.norm(direction, axis=1, keepdims=True)
    return direction / np.where(norm > 0, norm, 1.0)


def alps_zone(p: np.ndarray, zones: TractZones = ZONES) -> np.ndarray:
    """0 outside the ALPS tracts, 1 projection, 2 association, for template points p (M, 3) mm."""
    ax = np.abs(p[:, 0])
    inside = (
        (ax >= zones.x_inner)
        & (ax <= zones.x_outer)
        & (p[:, 1] >= zones.y[0])
        & (p[:, 1] <= zones.y[1])
        & (p[:, 2] >= zones.z[0])
        & (p[:, 2] <= zones.z[1])
    )
    return np.where(inside, np.where(ax < zones.border, 1, 2), 0)


def alps_phantom(
    alps_left: float = 1.3,
    alps_right: float = 1.6,
    pose: HeadPose | None = None,
    voxel_mm: float = 2.0,
    n_directions: int = 32,
    bvalue: float = 1000.0,
    n_b0: int = 2,
    snr: float = 30.0,
    seed: int = 0,
    grid_rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    deformation: Deformation | None = None,
    slab_z_mm: tuple[float, float] | None = None,
    zones: TractZones = ZONES,
    motion: Sequence[HeadPose] | None = None,
    fibres: FibreField | None = None,
) -> DWIPhantom:
    """A DWI phantom on MNI152 anatomy with a known ALPS index per hemisphere.

    ``snr`` is the white-matter b0 signal over the Rician noise sigma (``inf`` for no noise).
    ``voxel_mm`` is one size or three (thick slices: ``(2, 2, 4)``). ``grid_rotation_deg`` tilts
    the acquisition grid itself (an oblique scan). ``deformation`` reshapes the anatomy before the
    pose (fibre directions stay along the template axes, so the truth index is unchanged);
    ``slab_z_mm`` acquires only the template z range given (partial coverage); ``zones`` moves
    the tracts' edges (``TractZones.random``). The DWI is stored
    with the grid's own axes (RAS-like); use ``glymph.volume.reoriented`` for other storage orders.
    ``DWIPhantom.true_rois`` gives where the built-in ROI centres lie in the scan.
    ``motion`` (one pose per volume) moves the head between volumes, as a subject does: volume i
    is drawn with the head at ``motion[i]`` (gradients fixed in the scanner, so the head sees them
    rotated); the truth and ``pose`` (the grid and ``true_rois``) stay those of ``pose``.
    ``fibres`` maps template points (M, 3) to white-matter fibre directions (M, 3) outside the
    ALPS tracts, replacing the fan: bundles that follow the white matter's shape, as a
    gradient-table check needs (the fan has no relation to it); white matter where it gives a zero
    row is isotropic (lambda_perp).
    """
    pose = pose or HeadPose()
    affine, shape = scanner_grid(pose, voxel_mm, grid_rotation_deg, slab_z_mm=slab_z_mm)
    grid = Volume(np.zeros(shape, dtype=np.float32), affine)
    inside, p, fractions = _tissues(grid, pose, deformation, zones)
    directions = gradient_directions(n_directions, seed=1)
    bvals = np.concatenate([np.zeros(n_b0), np.full(n_directions, bvalue)])
    bvecs = np.concatenate([np.zeros((n_b0, 3)), directions])
    data = np.zeros((inside.size, bvals.size), dtype=np.float64)
    if motion is None:
        data[inside] = _signal(p, fractions, bvals, bvecs @ pose.rotation, alps_left, alps_right, zones, fibres)
    else:
        if len(motion) != bvals.size:
            raise ValueError(f"motion needs one pose per volume ({bvals.size}), got {len(motion)}")
        for i, moved in enumerate(motion):
            here, q, parts = _tissues(grid, moved, deformation, zones)
            data[here, i] = _signal(q, parts, bvals[i : i + 1], bvecs[i : i + 1] @ moved.rotation,
                                    alps_left, alps_right, zones, fibres)[:, 0]  # fmt: skip
    sigma = 0.0 if not np.isfinite(snr) else S0["wm"] / snr
    if sigma > 0:
        rng = np.random.default_rng(seed)
        data = np.sqrt((data + rng.normal(0, sigma, data.shape)) ** 2 + rng.normal(0, sigma, data.shape) ** 2)
    volume = Volume(data.reshape((*shape, bvals.size)).astype(np.float32), affine)
    return DWIPhantom(DWI(volume, bvals, bvecs), alps_left, alps_right, pose, sigma, inside.reshape(shape), deformation)


def _tissues(
    grid: Volume, pose: HeadPose, deformation: Deformation | None = None, zones: TractZones = ZONES
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Which voxels of ``grid`` lie in the posed (and deformed) template brain, their template
    positions (mm), and their grey matter, white matter and CSF fractions (pure white matter in
    the ALPS tracts)."""
    from scipy.ndimage import map_coordinates

    t = mni152()
    to_template = np.linalg.inv(pose.matrix())
    template_points = grid.voxel_centres().reshape(-1, 3) @ to_template[:3, :3].T + to_template[:3, 3]
    if deformation is not None:
        template_points = deformation.backward(template_points)
    template_vox = t.t1.world_to_voxel(template_points).T

    def sample(v: Volume) -> np.ndarray:
        return map_coordinates(v.data.astype(np.float32), template_vox, order=1, mode="constant")

    inside = sample(t.brain_mask.with_data(t.brain_mask.data.astype(np.float32))) > 0.5
    p = template_points[inside]
    zone = alps_zone(p, zones)
    wm = np.where(zone > 0, 1.0, sample(t.wm)[inside])
    gm = np.where(zone > 0, 0.0, sample(t.gm)[inside])
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    total = gm + wm + csf
    return inside, p, {"gm": gm / total, "wm": wm / total, "csf": csf / total}


def _signal(
    p: np.ndarray,
    fractions: dict[str, np.ndarray],
    bvals: np.ndarray,
    g_template: np.ndarray,
    alps_left: float,
    alps_right: float,
    zones: TractZones = ZONES,
    fibres: FibreField | None = None,
) -> np.ndarray:
    """Noise-free signal (M, N) at template points ``p`` for gradients ``g_template`` expressed in
    template axes (R^T g): three compartments, the white matter one with the ALPS truth."""
    zone = alps_zone(p, zones)
    e = _white_matter_direction(p, zone, fibres)
    alps_here = np.where(zone > 0, np.where(p[:, 0] < 0, alps_left, alps_right), 1.0)
    # D = lperp I + (lpar - lperp) e e^T + (alps - 1) lperp x x^T   (e is perpendicular to x in the zones)
    gg = (g_template**2).sum(1)
    eg = e @ g_template.T
    adc_wm = (
        LAMBDA_PERP * gg[None, :]
        + (LAMBDA_PAR - LAMBDA_PERP) * eg**2
        + ((alps_here - 1.0) * LAMBDA_PERP)[:, None] * g_template[None, :, 0] ** 2
    )
    return (
        S0["wm"] * fractions["wm"][:, None] * np.exp(-bvals[None, :] * adc_wm)
        + S0["gm"] * fractions["gm"][:, None] * np.exp(-bvals[None, :] * GM_DIFFUSIVITY)
        + S0["csf"] * fractions["csf"][:, None] * np.exp(-bvals[None, :] * CSF_DIFFUSIVITY)
    )


def write_fsl(dwi: DWI, path: str, storage: str | None = None) -> tuple[str, str, str]:
    """Write a DWI as NIfTI + FSL bval/bvec (``glymph.dti.files.write_dwi_fsl``)."""
    from glymph.dti.files import write_dwi_fsl

    return write_dwi_fsl(dwi, path, storage)

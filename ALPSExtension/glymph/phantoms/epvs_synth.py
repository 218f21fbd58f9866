"""Training patches for the learned EPVS network, synthesised from label maps of real anatomy.

In the spirit of SynthSeg (Billot et al. 2023): no labelled scan exists here, so each patch is
drawn from anatomy with everything a network should not rely on randomised.

1. **Anatomy**: the MNI152 2009a grey/white matter and brain maps (CSF = brain minus both) and the
   EPVS regions (AAL basal ganglia, centrum semiovale, midbrain), read through a random pose
   (rotation up to ``MAX_ROTATION_DEG``, scaling +-15 % per axis) and a smooth random displacement
   (up to ``MAX_WARP_MM``), with sulci and ventricles widened at random (atrophy).
2. **Perivascular spaces** (labelled): curved tubes, diameter 0.5-3 mm, length 2-20 mm; in the
   basal ganglia near superior-inferior and clustered towards the anterior perforated substance
   (the bottom of the nuclei); in the centrum semiovale radial from the ventricles; in the
   midbrain and the rest of the white matter with more spread.
3. **Look-alikes** (never labelled): lacunes (ellipsoids 3-15 mm, fluid with a gliotic rim),
   widened sulci (CSF sheets reaching into the cortex, a tube on any one slice), vessels with
   flow voids (dark on T2; dark or bright on T1), white-matter hyperintensities.
4. **Images**: a T1-like and a T2-like image from the same labels, each with random intensities
   per class (CSF darker than white matter on the T1 by any amount, brighter on the T2), texture,
   a bias field, a gamma change, blur, Gaussian noise (SNR 6-40), on a random acquisition grid:
   in-plane 0.6-1.2 mm, slices of that size or thick up to 5 mm along a random axis (partial
   volume: each voxel's fraction of every object is measured from sub-voxel samples).

A patch is ``PATCH`` voxels per side on that grid; the label is a voxel at least half inside a
perivascular space, or on its centreline with at least ``MIN_COURSE_FRACTION`` of it inside.
Images are divided by their brain median (as ``glymph.epvs.preprocess`` normalises a scan), at
least 0.001 inside the brain and zero outside it (where nothing is labelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from glymph.phantoms.geometry import bezier, random_direction, rotation_matrix, subvoxel_offsets, tube_fraction

PATCH = 48
MAX_ROTATION_DEG = 20.0
MAX_WARP_MM = 3.0
MIN_COURSE_FRACTION = 0.15
VENTRICLES_MNI = np.array([0.0, -15.0, 15.0])  # RAS mm: the centre the centrum-semiovale vessels radiate from
ANTERIOR_PERFORATED_Z_MNI = -5.0  # basal-ganglia PVS crowd near this level

# object classes of the label map the images are drawn from
BACKGROUND, CSF, GREY, WHITE, PVS, LACUNE, RIM, VESSEL, WMH = range(9)


@dataclass(frozen=True)
class Anatomy:
    """The real anatomy patches are drawn from, on MNI152 grids (RAS mm)."""

    tissue: np.ndarray  # (3, X, Y, Z) CSF, grey, white matter fractions on the 2 mm template grid
    tissue_affine: np.ndarray
    regions: np.ndarray  # 1 basal ganglia, 2 centrum semiovale, 3 midbrain (1 mm grid)
    regions_affine: np.ndarray
    centres: dict[int, np.ndarray]  # per region: MNI points (N, 3) patches are centred on


@lru_cache(maxsize=1)
def anatomy() -> Anatomy:
    """The shipped MNI152 maps and EPVS regions, prepared once per process."""
    from glymph.epvs.regions import regions_mni
    from glymph.templates import mni152

    template = mni152()
    brain = np.clip(template.brain_mask.data.astype(np.float32), 0, 1)
    gm, wm = template.gm.data * brain, template.wm.data * brain
    csf = np.clip(brain - gm - wm, 0, 1)
    atlas = regions_mni()
    centres = {}
    for label in (1, 2, 3):
        ijk = np.argwhere(atlas.data == label)[::5]
        centres[label] = atlas.voxel_to_world(ijk)
    wm_ijk = np.argwhere(wm > 0.6)[::3]
    centres[0] = template.wm.voxel_to_world(wm_ijk)  # anywhere in the white matter
    return Anatomy(np.stack([csf, gm, wm]), template.wm.affine, atlas.data, atlas.affine, centres)


@dataclass(frozen=True)
class DrawnTube:
    """One perivascular space as ``PatchDrawer.draw_pvs`` drew it (for checking a network per place)."""

    centre_mni: np.ndarray  # RAS mm
    voxels: np.ndarray  # (V, 3) patch voxel indices the tube covers
    fraction: np.ndarray  # (V,) the share of each voxel inside the tube
    csf_before: np.ndarray  # (V,) each voxel's CSF fraction before the tube was painted over it


@dataclass(frozen=True)
class Patch:
    """One training patch: images (channel 0 T1-like, 1 T2-like), label, and how it was drawn."""

    image: np.ndarray  # (2, PATCH, PATCH, PATCH) float32
    label: np.ndarray  # (PATCH, PATCH, PATCH) bool: perivascular space
    spacing_mm: tuple[float, float, float]
    n_pvs: int
    n_lookalikes: int


def acquisition_spacing(rng: np.random.Generator) -> np.ndarray:
    """Voxel size (mm): in-plane 0.6-1.2 mm; half the time thick slices up to 5 mm on a random axis."""
    in_plane = float(rng.uniform(0.6, 1.2))
    spacing = np.full(3, in_plane)
    if rng.random() < 0.5:
        axis = 2 if rng.random() < 0.6 else int(rng.integers(0, 2))
        spacing[axis] = float(rng.uniform(max(in_plane, 1.5), 5.0))
    return spacing


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], control: int, sd: float) -> np.ndarray:
    """A smooth random field on ``shape``: Gaussian values on a ``control``^3 grid, cubic-interpolated."""
    from scipy.ndimage import zoom

    coarse = rng.normal(0.0, sd, (control,) * 3)
    return zoom(coarse, [n / control for n in shape], order=3, mode="nearest")[: shape[0], : shape[1], : shape[2]]


class PatchDrawer:
    """Draws one patch (see the module docstring); a new drawer per patch keeps its state local."""

    def __init__(self, rng: np.random.Generator, centre_region: int | None = None):
        self.rng = rng
        self.anatomy = anatomy()
        self.spacing = acquisition_spacing(rng)
        region = centre_region if centre_region is not None else int(rng.choice([1, 2, 3, 0], p=[0.35, 0.35, 0.1, 0.2]))
        candidates = self.anatomy.centres[region]
        self.centre_mni = candidates[rng.integers(len(candidates))] + rng.uniform(-8, 8, 3)
        scale = np.diag(rng.uniform(0.85, 1.15, 3))
        # patch mm -> MNI mm (linear part); the displacement field is added in MNI mm
        self.linear = rotation_matrix(tuple(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3))) @ scale
        self.inverse = np.linalg.inv(self.linear)
        shape = (PATCH,) * 3
        self.affine = np.eye(4)  # voxel -> patch mm (the patch's own scanner space), centred
        self.affine[:3, :3] = np.diag(self.spacing)
        self.affine[:3, 3] = -self.spacing * (PATCH - 1) / 2
        self.warp = np.stack([smooth_field(rng, shape, 4, rng.uniform(0, MAX_WARP_MM) / 2) for _ in range(3)], -1)
        self.fraction = np.zeros((9, *shape), np.float32)  # partial volume of each class
        self.label = np.zeros(shape, bool)
        self.tubes: list[DrawnTube] = []  # the perivascular spaces drawn, in order

    # --- anatomy -----------------------------------------------------------------------------
    def voxel_points_mm(self) -> np.ndarray:
        """(P, P, P, 3) patch mm of the voxel centres."""
        ijk = np.stack(np.meshgrid(*[np.arange(PATCH)] * 3, indexing="ij"), -1).astype(np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def to_mni(self, points_mm: np.ndarray) -> np.ndarray:
        """Patch mm -> MNI mm (pose and smooth displacement; the displacement taken at the nearest voxel)."""
        mni = points_mm @ self.linear.T + self.centre_mni
        voxel = np.clip(np.rint((points_mm - self.affine[:3, 3]) / self.spacing).astype(int), 0, PATCH - 1)
        return mni + self.warp[voxel[..., 0], voxel[..., 1], voxel[..., 2]]

    def direction_in_patch(self, mni_direction: np.ndarray) -> np.ndarray:
        d = self.inverse @ mni_direction
        return d / np.linalg.norm(d)

    def draw_anatomy(self) -> None:
        """Tissue fractions and regions at every voxel (trilinear on the 2 mm maps, with sub-voxel
        samples along a thick axis), with random atrophy: sulci and ventricles widened."""
        from scipy.ndimage import map_coordinates

        a = self.anatomy
        counts = tuple(int(np.clip(np.ceil(s / 1.0), 1, 5)) for s in self.spacing)
        offsets = subvoxel_offsets(counts, 3) * self.spacing
        points = self.voxel_points_mm()
        tissue = np.zeros((3, *points.shape[:3]), np.float32)
        inverse = np.linalg.inv(a.tissue_affine)
        for offset in offsets:
            mni = self.to_mni(points + offset)
            ijk = (mni @ inverse[:3, :3].T + inverse[:3, 3]).transpose(3, 0, 1, 2)
            for c in range(3):
                tissue[c] += map_coordinates(a.tissue[c], ijk, order=1, mode="constant", cval=0.0)
        tissue /= len(offsets)
        atrophy = float(self.rng.uniform(0, 0.6)) if self.rng.random() < 0.5 else 0.0
        if atrophy:  # grey matter next to CSF turns to CSF where a smooth field says so (wider sulci, ventricles)
            field = smooth_field(self.rng, tissue.shape[1:], 6, 1.0) > 0
            moved = tissue[1] * atrophy * field * np.clip(tissue[0] * 4, 0, 1)
            tissue[0] += moved
            tissue[1] -= moved
        self.fraction[CSF], self.fraction[GREY], self.fraction[WHITE] = tissue
        regions_ijk = np.linalg.inv(a.regions_affine)
        mni = self.to_mni(points)
        ijk = np.rint(mni @ regions_ijk[:3, :3].T + regions_ijk[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(a.regions.shape)), axis=-1)
        self.regions = np.zeros(points.shape[:3], np.uint8)
        self.regions[inside] = a.regions[tuple(ijk[inside].T)]
        self.mni = mni

    # --- objects -----------------------------------------------------------------------------
    def subsamples(self) -> tuple[int, ...]:
        return tuple(int(np.clip(np.ceil(s / 0.35), 2, 10)) for s in self.spacing)

    def paint(self, cls: int, voxels: np.ndarray, fraction: np.ndarray) -> None:
        """Give class ``cls`` the fraction ``fraction`` of ``voxels``, taken from what was there."""
        keep = fraction > 0
        voxels, fraction = voxels[keep], fraction[keep].astype(np.float32)
        index = tuple(voxels.T)
        current = self.fraction[(slice(None), *index)]
        new = np.maximum(current[cls], fraction)
        others = np.ones(9, bool)
        others[cls] = False
        rest = current[others].sum(0)
        scale = np.where(rest > 0, np.clip(1 - new, 0, None) / np.maximum(rest, 1e-6), 0)
        current[others] *= scale
        current[cls] = new
        self.fraction[(slice(None), *index)] = current

    def box_around(self, line: np.ndarray, reach_mm: float) -> np.ndarray:
        lo = (line.min(0) - reach_mm - self.affine[:3, 3]) / self.spacing
        hi = (line.max(0) + reach_mm - self.affine[:3, 3]) / self.spacing
        lo, hi = np.clip(np.floor(lo), 0, PATCH).astype(int), np.clip(np.ceil(hi) + 1, 0, PATCH).astype(int)
        ranges = [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
        return np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, 3)

    def tube(self, centre: np.ndarray, direction: np.ndarray, length: float, radius: float, bend: float) -> tuple:
        """A curved tube's centreline (patch mm), the voxels near it and their fraction inside."""
        side = np.cross(direction, self.rng.normal(size=3))
        side = side / np.linalg.norm(side) * bend * length
        line = bezier(centre - direction * length / 2, centre + side, centre + direction * length / 2, 16)
        voxels = self.box_around(line, radius + 1.0)
        if len(voxels) == 0:
            return line, voxels, np.zeros(0)
        return line, voxels, tube_fraction(voxels, self.affine, line, radius, self.subsamples())

    def place(self, where: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | None:
        """A random voxel centre (patch mm) among ``where`` (bool), or None when there is none."""
        ijk = np.argwhere(where)
        if len(ijk) == 0:
            return None
        p = None if weights is None else weights[tuple(ijk.T)] / weights[tuple(ijk.T)].sum()
        return self.affine[:3, :3] @ ijk[self.rng.choice(len(ijk), p=p)] + self.affine[:3, 3]

    def draw_pvs(self) -> int:
        """Perivascular spaces by region (see the module docstring); returns how many were drawn."""
        rng = self.rng
        white = self.fraction[WHITE] > 0.5
        deep = self.regions == 1
        plans = [
            (deep, rng.integers(0, 14), np.array([0.0, 0.0, 1.0]), 20.0),
            (white & (self.regions == 2), rng.integers(0, 18), None, 20.0),
            ((self.regions == 3) & (self.fraction[CSF] < 0.5), rng.integers(0, 5), np.array([0.0, 0.0, 1.0]), 35.0),
            (white, rng.integers(0, 5), None, 35.0),
        ]
        low = np.exp(-np.clip(self.mni[..., 2] - ANTERIOR_PERFORATED_Z_MNI, 0, None) / 8.0)
        drawn, previous = 0, None
        for index, (where, count, axis, spread) in enumerate(plans):
            for _ in range(int(count) if rng.random() > 0.1 else 0):
                centre = self.place(where, low if index == 0 else None)
                if centre is None:
                    break
                if index == 0 and previous is not None and rng.random() < 0.4:  # a cluster
                    centre = previous + rng.normal(0, 3.0, 3)
                previous = centre if index == 0 else previous
                mni_centre = self.to_mni(centre[None])[0]
                radial = mni_centre - VENTRICLES_MNI if axis is None else axis
                direction = self.direction_in_patch(random_direction(rng, radial, spread))
                radius = float(np.exp(rng.uniform(np.log(0.25), np.log(1.5))))
                length = float(rng.uniform(max(2.0, 3 * radius), 20.0 if index != 0 else 14.0))
                line, voxels, fraction = self.tube(centre, direction, length, radius, rng.uniform(0, 0.15))
                if not len(voxels):
                    continue
                self.tubes.append(DrawnTube(mni_centre, voxels, fraction, self.fraction[CSF][tuple(voxels.T)].copy()))
                self.paint(PVS, voxels, fraction)
                course = np.unique(np.rint((line - self.affine[:3, 3]) / self.spacing).astype(int), axis=0)
                course = course[np.all((course >= 0) & (course < PATCH), axis=1)]
                on_course = np.zeros(self.label.shape, bool)
                on_course[tuple(course.T)] = True
                full = np.zeros(self.label.shape, np.float32)
                full[tuple(voxels.T)] = fraction
                self.label |= (full >= 0.5) | (on_course & (full >= MIN_COURSE_FRACTION))
                drawn += 1
        return drawn

    def draw_lookalikes(self) -> int:
        """Lacunes with rims, widened sulci, flow-void vessels, white-matter hyperintensities."""
        rng, drawn = self.rng, 0
        points = self.voxel_points_mm()
        brainish = (self.fraction[WHITE] + self.fraction[GREY]) > 0.6
        for _ in range(rng.integers(0, 3) if rng.random() < 0.4 else 0):  # lacunes, 3-15 mm
            centre = self.place(brainish & (self.fraction[WHITE] > 0.3))
            if centre is None:
                break
            radii = rng.uniform(1.5, 7.5) * rng.uniform(0.7, 1.0, 3)
            axes = rotation_matrix(tuple(rng.uniform(-90, 90, 3)))
            r = np.linalg.norm(((points - centre) @ axes) / radii, axis=-1)
            rim_mm = rng.uniform(0.5, 1.5)
            scale = rim_mm / radii.mean()
            voxels = np.argwhere(r < 1 + 2 * scale)
            core = np.clip((1 - r[tuple(voxels.T)]) / (0.5 * self.spacing.mean() / radii.mean()) + 0.5, 0, 1)
            rim = np.clip(1 - np.abs(r[tuple(voxels.T)] - 1 - scale) / scale, 0, 1)
            self.paint(RIM, voxels, rim)
            self.paint(LACUNE, voxels, core)
            drawn += 1
        for _ in range(rng.integers(1, 4) if rng.random() < 0.4 else 0):  # widened sulci: CSF sheets into the cortex
            centre = self.place(self.fraction[GREY] > 0.5)
            if centre is None:
                break
            normal = rng.normal(size=3)
            normal /= np.linalg.norm(normal)
            half = rng.uniform(0.5, 1.5)
            extent = rng.uniform(5.0, 14.0)
            offset = points - centre
            across = np.abs(offset @ normal)
            along = np.linalg.norm(
                offset - np.outer(offset.reshape(-1, 3) @ normal, normal).reshape(offset.shape), axis=-1
            )
            sheet = np.clip(half + 0.5 - across, 0, 1) * (along < extent)
            self.paint(CSF, np.argwhere(sheet > 0), sheet[sheet > 0])
            drawn += 1
        for _ in range(rng.integers(1, 3) if rng.random() < 0.5 else 0):  # vessels with flow voids
            centre = self.place(brainish)
            if centre is None:
                break
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            _, voxels, fraction = self.tube(centre, direction, rng.uniform(15, 40), rng.uniform(0.5, 1.5), 0.1)
            if len(voxels):
                self.paint(VESSEL, voxels, fraction)
                drawn += 1
        if rng.random() < 0.3:  # white-matter hyperintensities: irregular blobs
            centre = self.place(self.fraction[WHITE] > 0.6)
            if centre is not None:
                size = rng.uniform(3, 10)
                blob = np.exp(-((np.linalg.norm(points - centre, axis=-1) / size) ** 2))
                blob = np.clip((blob + smooth_field(rng, blob.shape, 8, 0.3) - 0.5) * 4, 0, 1) * (
                    self.fraction[WHITE] > 0.3
                )
                if blob.any():
                    self.paint(WMH, np.argwhere(blob > 0), blob[blob > 0])
                    drawn += 1
        return drawn

    # --- images ------------------------------------------------------------------------------
    def contrast(self, t2: bool) -> np.ndarray:
        """Mean intensity per class, relative to white matter (the T1 or the T2 family)."""
        u = self.rng.uniform
        means = np.zeros(9)
        if not t2:
            means[WHITE], means[GREY] = 1.0, u(0.5, 0.85)
            means[CSF] = u(0.05, 0.4) if self.rng.random() < 0.85 else u(0.4, 0.7)  # sometimes a weak T1
            means[RIM], means[WMH] = u(0.55, 0.95), u(0.6, 0.95)
            means[VESSEL] = u(0.05, 0.35) if self.rng.random() < 0.4 else u(1.1, 1.8)
        else:
            means[WHITE], means[GREY] = 1.0, u(1.1, 1.7)
            means[CSF] = u(1.8, 5.0)
            means[RIM], means[WMH] = u(1.2, 2.2), u(1.4, 3.0)
            means[VESSEL] = u(0.05, 0.5)
        means[PVS] = means[CSF] * u(0.85, 1.1)
        means[LACUNE] = means[CSF] * u(0.85, 1.1)
        return means

    def image(self, t2: bool) -> np.ndarray:
        """One contrast drawn from the class fractions (see the module docstring), brain-median normalised."""
        from scipy.ndimage import gaussian_filter

        rng = self.rng
        means = self.contrast(t2)
        image = np.tensordot(means, self.fraction, axes=1)
        image *= 1 + smooth_field(rng, image.shape, 10, rng.uniform(0.0, 0.06))  # texture
        image *= np.exp(smooth_field(rng, image.shape, 3, rng.uniform(0.0, 0.25)))  # bias field
        sigma = rng.uniform(0.0, 0.6, 3) * (rng.random() < 0.7)
        image = gaussian_filter(image, sigma) if sigma.any() else image
        image = image + rng.normal(0.0, 1.0 / rng.uniform(6.0, 40.0), image.shape)
        image = np.clip(image, 0, None) ** float(np.exp(rng.normal(0, 0.2)))
        brain = self.brain()
        median = float(np.median(image[brain])) if brain.any() else 1.0
        return np.where(brain, np.maximum(image / max(median, 1e-6), 1e-3), 0).astype(np.float32)

    def brain(self) -> np.ndarray:
        """Voxels mostly inside the head's brain (zero in the images outside)."""
        return self.fraction[1:].sum(0) > 0.5


def synthetic_patch(seed: int, centre_region: int | None = None) -> Patch:
    """One patch, reproducible from ``seed`` (see the module docstring)."""
    drawer = PatchDrawer(np.random.default_rng(seed), centre_region)
    drawer.draw_anatomy()
    lookalikes = drawer.draw_lookalikes()
    n_pvs = drawer.draw_pvs()
    image = np.stack([drawer.image(t2=False), drawer.image(t2=True)])
    return Patch(image, drawer.label & drawer.brain(), tuple(float(s) for s in drawer.spacing), n_pvs, lookalikes)

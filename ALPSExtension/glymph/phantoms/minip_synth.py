"""Training images for the learned vein network: synthetic SWI MinIPs drawn from real anatomy.

No labelled SWI exists here, so each image is drawn, as SynthSeg does for MRI, with everything a
network should not rely on randomised:

1. **Anatomy**: the MNI152 2009a grey/white matter and brain maps over an axial slab of random
   thickness (10-24 mm) centred between 8 and 36 mm above the AC (the lateral ventricles' level
   and around it), each tissue with a random SWI-like intensity (any order of grey and white
   matter; CSF usually brightest), a random gyral texture in the cortex, and the minimum over the
   slab taken; then a random pose (rotation up to 15 degrees, scaling 0.85-1.2 per axis, shift) and
   a smooth warp (up to 3 mm), on a random square pixel of 0.45-1.05 mm.
2. **Veins** (labelled): trees on the cortical surface, 1.5-22 mm deep: a trunk of 8-50 mm and up
   to three branches, each a persistent random walk plus a sinusoidal wiggle (wavelength 5-25 mm,
   amplitude up to 4 mm: tortuosity 1.0-1.8), radius 0.35-1.3 mm tapering along it, fading out
   where it leaves the slab obliquely. A pixel's darkness is the vein's extent along the line of
   sight within a slice of random thickness (0.8-2.5 mm), averaged over 4x4 points per pixel.
3. **Look-alikes** (never labelled): dark sulcal folds in the cortex (curvy lines 2-5 mm wide),
   iron-dark deep grey nuclei, the air-tissue signal loss near the frontal sinus and temporal
   bones, phase-wrap stripes, a dark brain rim.
4. **Acquisition**: blooming (veins blurred wider), a bias field, a gamma change, Rician noise
   (SNR 8-50); the image divided by its brain median and set to 1 outside the brain (as
   ``glymph.vein.pipeline`` prepares a MinIP), the brain mask eroded by 0-3 mm.

The label is given on a finer grid too (``label_pixel_mm``, the network's): pixels at least half
inside a visible vein (visibility >= 0.5), from 2x2 points per pixel. Its pixel ``u`` has its
centre at ``(u + 0.5) * n * a / m`` mm from the image's edge (``n`` pixels of ``a`` mm resized to
``m``), as ``skimage.transform.resize`` places them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FOV_MM = (190.0, 230.0)  # R-L, A-P field of view around the brain
SLAB_MM = (10.0, 24.0)
LEVEL_MM = (8.0, 36.0)
PIXEL_MM = (0.45, 1.05)


@dataclass(frozen=True)
class SyntheticMinIP:
    """One training image (see the module docstring)."""

    image: np.ndarray  # (X, Y) MinIP / brain median, 1 outside the brain; X along R, Y along A
    brain: np.ndarray  # (X, Y) bool
    pixel_mm: float
    truth: np.ndarray  # (X, Y) bool: pixels at least half inside a visible vein
    label: np.ndarray  # (M, N) bool on the ``label_pixel_mm`` grid
    n_veins: int


@lru_cache(maxsize=1)
def slab_anatomy() -> tuple[np.ndarray, np.ndarray]:
    """(4, X, Y, Z) CSF, grey, white matter and brain fractions on the MNI152 2 mm grid, and its affine."""
    from glymph.templates import mni152

    t = mni152()
    brain = t.brain_mask.data.astype(np.float32)
    gm, wm = t.gm.data * brain, t.wm.data * brain
    return np.stack([np.clip(brain - gm - wm, 0, 1), gm, wm, brain]), t.gm.affine


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian noise smoothed by ``sigma_px`` pixels, scaled to unit sd."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.normal(size=shape), sigma_px, mode="wrap")
    return field / max(float(field.std()), 1e-9)


class MinIPDrawer:
    """Draws one image (see the module docstring); a new drawer per image keeps its state local."""

    def __init__(self, seed: int, label_pixel_mm: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.pixel = float(self.rng.uniform(*PIXEL_MM))
        self.shape = tuple(round(f / self.pixel) for f in FOV_MM)
        self.label_shape = tuple(max(round(n * self.pixel / label_pixel_mm), 1) for n in self.shape)
        ij = np.stack(np.meshgrid(*(np.arange(n) for n in self.shape), indexing="ij"), -1)
        self.xy_grid = (ij + 0.5) * self.pixel  # every pixel centre, mm from the image's edge

    # --- anatomy
    def tissue_minip(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MinIP over the slab on the template grid (2D), brain and cortex fractions there."""
        rng = self.rng
        tissue, affine = slab_anatomy()
        centre, thickness = rng.uniform(*LEVEL_MM), rng.uniform(*SLAB_MM)
        z = np.arange(tissue.shape[3]) * affine[2, 2] + affine[2, 3]
        ks = np.flatnonzero(np.abs(z - centre) <= thickness / 2)
        csf, gm, wm, brain = (tissue[c][:, :, ks] for c in range(4))
        wm_value = rng.uniform(0.55, 1.0)
        values = {"csf": rng.uniform(0.75, 1.35), "gm": wm_value * rng.uniform(0.7, 1.15), "wm": wm_value}
        texture = 1 + rng.uniform(0.0, 0.12) * smooth_noise(rng, gm.shape[:2], rng.uniform(0.6, 1.5))[:, :, None]
        image = values["csf"] * csf + values["gm"] * gm * texture + values["wm"] * wm
        image = np.where(brain > 0.5, image / np.maximum(brain, 1e-3), np.inf)
        minip = image.min(axis=2)
        inside = (brain > 0.5).any(axis=2)
        minip[~inside] = 0.0
        return minip, inside.astype(np.float32), gm.mean(axis=2)

    def pose(self) -> np.ndarray:
        """For every image pixel, its template x, y (mm): a random similarity-plus-scaling and a warp."""
        from scipy.ndimage import zoom

        rng = self.rng
        angle = np.deg2rad(rng.uniform(-15, 15))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        scale = rng.uniform(0.85, 1.2, 2)
        shift = rng.uniform(-8, 8, 2)
        ij = np.stack(np.meshgrid(*(np.arange(n) for n in self.shape), indexing="ij"), -1).astype(np.float32)
        xy = (ij + 0.5) * self.pixel - np.array(FOV_MM) / 2 + np.array([0.0, -18.0])  # image mm, brain centred
        template = ((xy - shift) @ rotation) / scale
        warp = np.stack([zoom(rng.normal(0, 1.5, (6, 6)), [n / 6 for n in self.shape], order=3) for _ in range(2)], -1)
        return template + np.clip(warp, -3, 3)

    def anatomy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Background image, brain mask, depth below the brain surface (mm) and cortex weight."""
        from scipy import ndimage

        minip, inside, gm = self.tissue_minip()
        _, affine = slab_anatomy()
        template = self.pose()
        ij = (template - affine[:2, 3]) / np.diag(affine)[:2]
        coords = [ij[..., 0], ij[..., 1]]
        image = ndimage.map_coordinates(minip, coords, order=1, mode="constant")
        brain = ndimage.map_coordinates(inside, coords, order=1, mode="constant") > 0.5
        cortex = ndimage.map_coordinates(gm, coords, order=1, mode="constant")
        brain = ndimage.binary_fill_holes(brain)
        depth = ndimage.distance_transform_edt(brain) * self.pixel
        return image, brain, depth, cortex

    # --- veins
    def vein_curve(self, start: np.ndarray, heading: float, length: float) -> np.ndarray:
        """Points every 0.1 mm of a persistent random walk with a sinusoidal wiggle across it."""
        rng = self.rng
        n = int(length / 0.1)
        turn = np.cumsum(rng.normal(0, np.deg2rad(rng.uniform(0.3, 1.5)), n))
        direction = heading + turn
        steps = 0.1 * np.stack([np.cos(direction), np.sin(direction)], -1)
        path = start + np.cumsum(steps, axis=0)
        wavelength, amplitude = rng.uniform(5, 25), rng.uniform(0, 4) * (rng.random() < 0.8)
        amplitude = min(amplitude, 0.45 * wavelength)
        s = np.arange(n) * 0.1
        normal = np.stack([-np.sin(direction), np.cos(direction)], -1)
        wiggle = amplitude * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
        curve = path + wiggle[:, None] * normal
        gaps = np.linalg.norm(np.diff(curve, axis=0), axis=1)  # resample to 0.1 mm along the wiggled curve
        arc = np.concatenate([[0.0], np.cumsum(gaps)])
        at = np.arange(0, arc[-1], 0.1)
        return np.stack([np.interp(at, arc, curve[:, 0]), np.interp(at, arc, curve[:, 1])], -1)

    def vein_tree(self, depth: np.ndarray, brain: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """A trunk and up to three branches: (points mm, radius mm, visibility 0-1) for each."""
        rng = self.rng
        band = np.argwhere((depth > 1.5) & (depth < 22))
        if not len(band):
            return []
        i, j = band[rng.integers(len(band))]
        start = (np.array([i, j]) + 0.5) * self.pixel
        gi, gj = np.gradient(depth)
        inward = np.arctan2(gj[i, j], gi[i, j])
        heading = inward + (np.pi / 2) * rng.choice([-1, 1]) + np.deg2rad(rng.uniform(-60, 60))
        if rng.random() < 0.2:
            heading = inward + np.deg2rad(rng.uniform(-30, 30))
        radius = rng.uniform(0.35, 1.3)
        pieces = [(self.vein_curve(start, heading, rng.uniform(8, 50)), radius)]
        for _ in range(int(rng.integers(0, 4))):
            parent, r = pieces[0]
            at = parent[rng.integers(len(parent) // 5, max(len(parent) - 1, len(parent) // 5 + 1))]
            trunk_heading = np.arctan2(*(parent[-1] - parent[0])[::-1])
            branch = trunk_heading + np.deg2rad(rng.uniform(30, 75)) * rng.choice([-1, 1])
            pieces.append((self.vein_curve(at, branch, rng.uniform(5, 25)), max(0.3, r * rng.uniform(0.5, 0.9))))
        out = []
        for points, r in pieces:
            ij = np.floor(points / self.pixel).astype(int)
            ok = (ij >= 0).all(1) & (ij < np.array(self.shape)).all(1)
            ok[ok] &= brain[ij[ok, 0], ij[ok, 1]] & (depth[ij[ok, 0], ij[ok, 1]] < 30)
            first_out = np.flatnonzero(~ok)
            points = points[: first_out[0]] if len(first_out) else points
            if len(points) < 30:
                continue
            s = np.linspace(0, 1, len(points))
            radii = r * (1 - rng.uniform(0, 0.4) * s) * (1 + 0.08 * np.sin(2 * np.pi * s * rng.uniform(1, 4)))
            out.append((points, radii, self.visibility(len(points))))
        return out

    def visibility(self, n: int) -> np.ndarray:
        """1 along the vein, fading to 0 over 2-10 mm at an end where it leaves the slab (half of them)."""
        v = np.ones(n)
        s = np.arange(n) * 0.1
        for end in (0, 1):
            if self.rng.random() < 0.5:
                fade = self.rng.uniform(2, 10)
                ramp = np.clip((s if end == 0 else s[::-1]) / fade, 0, 1)
                v = np.minimum(v, ramp)
        return v

    def rasterise(self, veins, shape: tuple[int, int], pixel: np.ndarray, sub: int, slice_mm: float | None):
        """Per pixel of a grid (``pixel``: mm per axis, centres at (u + 0.5) * pixel): the mean darkness
        over sub x sub points (``slice_mm`` given) or the fraction of points inside a visible vein."""
        from scipy.spatial import cKDTree

        out = np.zeros(shape, np.float32)
        steps = (np.arange(sub) + 0.5) / sub - 0.5
        offsets = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2) * pixel
        for points, radii, visible in veins:
            tree = cKDTree(points)
            lo = np.maximum(np.floor((points.min(0) - radii.max() - 1) / pixel).astype(int), 0)
            hi = np.minimum(np.ceil((points.max(0) + radii.max() + 1) / pixel).astype(int) + 1, shape)
            if (hi <= lo).any():
                continue
            ij = np.stack(np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij"), -1).reshape(
                -1, 2
            )
            centres = (ij + 0.5) * pixel
            near, _ = tree.query(centres, distance_upper_bound=radii.max() + float(pixel.max()))
            ij, centres = ij[np.isfinite(near)], centres[np.isfinite(near)]
            if not len(ij):
                continue
            d, k = tree.query((centres[:, None] + offsets[None]).reshape(-1, 2))
            r, v = radii[k], visible[k]
            if slice_mm is None:
                value = ((d < r) & (v >= 0.5)).astype(np.float32)
            else:
                value = v * np.minimum(2 * np.sqrt(np.clip(r**2 - d**2, 0, None)), slice_mm) / slice_mm
            value = value.reshape(len(ij), -1).mean(1)
            out[ij[:, 0], ij[:, 1]] = np.maximum(out[ij[:, 0], ij[:, 1]], value)
        return out

    # --- look-alikes and acquisition
    def lookalikes(self, image: np.ndarray, brain: np.ndarray, depth: np.ndarray, cortex: np.ndarray) -> np.ndarray:
        rng = self.rng
        px = self.pixel
        darkness = np.zeros(self.shape, np.float32)
        # sulcal folds: the zero level of a smooth field, as curvy lines 2-5 mm wide, in the cortex
        field = smooth_noise(rng, self.shape, rng.uniform(3, 7) / px)
        width = rng.uniform(0.15, 0.4)
        folds = np.exp(-((field / width) ** 2)) * np.clip(cortex * 2, 0, 1) * (depth < 20)
        darkness = np.maximum(darkness, rng.uniform(0, 0.3) * folds)
        # iron in the deep grey nuclei
        deep = np.argwhere(depth > 35)
        for _ in range(int(rng.integers(0, 4))):
            if not len(deep):
                break
            c = (deep[rng.integers(len(deep))] + 0.5) * px
            axes = rng.uniform(3, 10, 2)
            d2 = (((self.xy_grid - c) / axes) ** 2).sum(-1)
            darkness = np.maximum(darkness, rng.uniform(0.1, 0.5) * np.exp(-d2))
        # signal loss at air-tissue interfaces (frontal sinus, temporal bones) and phase-wrap stripes
        edge = np.argwhere(brain & (depth < 4))
        for _ in range(int(rng.integers(0, 3))):
            if not len(edge):
                break
            anterior = edge[edge[:, 1] > np.percentile(edge[:, 1], 80)] if rng.random() < 0.6 else edge
            c = (anterior[rng.integers(len(anterior))] + 0.5) * px
            d2 = ((self.xy_grid - c) ** 2).sum(-1) / rng.uniform(8, 25) ** 2
            darkness = np.maximum(darkness, rng.uniform(0.3, 0.9) * np.exp(-d2))
            if rng.random() < 0.5:
                angle = rng.uniform(0, np.pi)
                phase = self.xy_grid @ np.array([np.cos(angle), np.sin(angle)])
                stripes = 0.5 + 0.5 * np.cos(2 * np.pi * phase / rng.uniform(4, 10))
                darkness = np.maximum(darkness, rng.uniform(0.1, 0.35) * stripes * np.exp(-d2 / 4))
        # a dark rim at the brain's edge (skull and sulcal partial volume)
        darkness = np.maximum(darkness, rng.uniform(0, 0.5) * np.exp(-depth / rng.uniform(0.5, 2.0)) * brain)
        return image * (1 - darkness)

    def draw(self) -> SyntheticMinIP:
        from scipy import ndimage
        from skimage.transform import resize

        rng = self.rng
        image, brain, depth, cortex = self.anatomy()
        image = self.lookalikes(image, brain, depth, cortex)
        veins = [piece for _ in range(int(rng.integers(4, 17))) for piece in self.vein_tree(depth, brain)]
        darkness = self.rasterise(veins, self.shape, np.full(2, self.pixel), 4, rng.uniform(0.8, 2.5))
        bloom = rng.uniform(0, 0.6) / self.pixel
        if bloom > 0.2:
            blurred = ndimage.gaussian_filter(darkness, bloom)
            darkness = np.maximum(darkness, blurred * darkness.max() / max(float(blurred.max()), 1e-6))
        image = image * (1 - rng.uniform(0.35, 0.9) * darkness)
        bias = np.exp(ndimage.zoom(rng.normal(0, 0.15, (4, 4)), [n / 4 for n in self.shape], order=3))
        image = np.clip(image * bias[: self.shape[0], : self.shape[1]], 0, None) ** rng.uniform(0.6, 1.6)
        sigma = float(np.median(image[brain])) / rng.uniform(8, 50)
        image = np.hypot(image + rng.normal(0, sigma, self.shape), rng.normal(0, sigma, self.shape))
        eroded = (
            ndimage.binary_erosion(brain, iterations=round(rng.uniform(0, 3) / self.pixel)) if brain.any() else brain
        )
        brain = eroded if eroded.sum() > 0.5 * brain.sum() else brain
        median = float(np.median(image[brain])) if brain.any() else 1.0
        image = np.where(brain, image / max(median, 1e-6), 1.0).astype(np.float32)
        truth = self.rasterise(veins, self.shape, np.full(2, self.pixel), 4, None) >= 0.5
        label_pixel = np.array(self.shape) * self.pixel / np.array(self.label_shape)  # per axis, as resize has it
        label = self.rasterise(veins, self.label_shape, label_pixel, 2, None) >= 0.5
        resized_brain = resize(brain.astype(np.float32), self.label_shape, order=0) > 0.5
        return SyntheticMinIP(image, brain, self.pixel, truth & brain, label & resized_brain, len(veins))


def synthetic_minip(seed: int, label_pixel_mm: float = 0.5) -> SyntheticMinIP:
    """One synthetic MinIP with its vein labels (see the module docstring)."""
    return MinIPDrawer(seed, label_pixel_mm).draw()

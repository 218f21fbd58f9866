"""Sub-pixel centreline, true end points and profile diameter of one dark vein on a 2D image.

The skeleton of a thresholded vein is a pixel path: its staircase inflates the length, smoothing
it flattens tight bends (a 5 mm wiggle loses most of its amplitude), its ends stop where the
thinning stopped, and area / length cannot resolve a diameter better than about a pixel. Here the
path only starts the search; the measures come from the image itself:

1. **Centre**: at points every ``STEP_PX`` along the path, the intensity profile across the vein
   (bilinear samples every 0.1 pixel along the normal) is read; the point moves to the midpoint
   of the half-depth crossings of the profile's dip below its local background (the median of
   the profile's outer parts). The skeleton path is first smoothed (Gaussian, 1 pixel); then two
   passes, each with normals from the moved points and followed by a cubic smoothing spline whose
   smoothing generalised cross-validation chooses from the points' own jitter (fitted on points a
   pixel apart, ``EVERY``), so a 5 mm wiggle keeps its amplitude and noise does not lengthen the
   vein. An end that then folds back along the path, sharply or in a U-turn, and stays within the
   vein's width of it (a tight bend at the end of a segmented piece read from its own arm, or a
   skeleton's hooked end centred into the vein) is dropped (``without_end_folds``).
2. **Ends**: along the vein and beyond each end (straight on along the end's direction over its
   last quarter pixel or more, ``end_tangent``), the dip's depth is followed until it falls to
   half the vein's median depth. A tube's rounded end is a half sphere: at a distance d beyond the
   centreline's end its depth is 2 sqrt(r^2 - d^2), half the tube's 2 r at d = r sqrt(3) / 2, so
   the centreline ends that far before the half-depth point (trimmed or extended).
3. **Axis at tight bends**: where a vein bends more tightly than about its diameter, the dip's
   middle is not its axis (the bend's inside is darkened from both sides); the centreline is
   then moved to the axis of a tube model fitted to the image in 2D (``glymph.vein.tube_model``),
   only for a vein that bends that tightly somewhere (``TIGHT_BEND_RADII``).
4. **Diameter**: the profile samples along the vein are fitted by a model of a tube seen through
   the pixels: each pixel's darkness is the half-chord of a disc of radius r (a tube's darkness
   is proportional to the path through it) averaged over the pixel's square, and each sample is
   the bilinear mix of its four pixels, exactly as it was read; free depth and background
   offset, least squares (SciPy). The diameter is 2 r. When the slices' thickness is known, the
   chord is only its part inside the slice the axis is centred in: a voxel is at most all vein, so
   a vein wider than the slices has a flat-bottomed dip, which the unbounded chord read wide
   (``test_a_vein_wider_than_the_slices_is_measured_with_their_thickness``; on the second
   generator, ``benchmarks/vein.py --curving``, the mean diameter error went from 19 % to 16 %,
   the calibration phantoms printed the same). The axis's depth in its slice is not fitted: left
   free, it let the model flatten the dip of any vein (calibration phantoms' mean diameter error
   5 % -> 8 %; a tight bend's two arms read as one vein 1.7 times too wide, a script outside the
   repository). When the image
   is a MinIP whose slices are
   given (``SlabSlices``), the profiles are read on the three slices around the one where the vein
   is darkest, point by point, not on the MinIP: a MinIP's background is the darkest tissue and
   noise of all its slices, which hides the faint edges of a vein's dip, and the fit read veins
   narrow (0.74-0.97 of the truth per phantom at SNR 10-40 on seeds 213-230, a script outside the
   repository; ``test_a_minip_vein_is_measured_on_its_own_slices``).

No library does this for 2D vessel centrelines on an arbitrary image (VMTK works on 3D surfaces,
skan on skeleton pixels), so it is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from glymph.vein.tube_model import arc_length, fit_tube_axis

STEP_PX = 0.5  # centreline samples along the vein
PROFILE_STEP_PX = 0.1  # samples along each profile
SG_WINDOW = 13
MIN_HALF_WIDTH_PX = 3.0  # each profile reaches at least this far either side of the centre
EVERY = 2  # the smoothing splines are fitted on every n-th centreline point: a pixel apart (see spline_smoothing)
END_CAP = np.sqrt(3) / 2  # the half-depth point of a tube's rounded end, in radii beyond the centreline's end
END_TANGENT_PX = STEP_PX / 2  # a path's end direction: the chord to its last point at least this far back (pixels)
FOLD_CHORD_PX = 2.0  # a path turns back where its next step opposes its chord over this many pixels before
# The tube model's axis is fitted only where the dip's middle can be off the axis: where the centred
# path bends with a radius of curvature below this many tube radii somewhere (turns by more than a
# radian over an arc of this many radii; ``largest_turn``). Elsewhere the model has nothing
# to correct and only adds error: a vein wider than the MinIP's slices has a flat-bottomed dip (the
# darkest voxel under each pixel is all vein), which the half-chord model cannot fit, and its axis
# then waved across the flat bottom. On an independent generator's 2.2 mm veins at 0.5 mm pixels
# (a script outside the repository) a straight vein measured tortuosity 1.21 (true 1.00), a 1.11
# one 1.30; without the fit 1.007 and 1.111.
TIGHT_BEND_RADII = 4.0
NEAR_SLICES = 1  # a vein's profiles are read on the slices this far either side of its darkest (it may straddle two)
DARKEST_SMOOTHING = 9  # points (half a pixel apart) over which each point's darkest slice is a median


@dataclass(frozen=True)
class Refined:
    """A vein measured on the image, in pixel coordinates (i, j)."""

    centreline: np.ndarray  # (M, 2) sub-pixel centre points, in order along the vein
    diameter_px: float  # 2 r of the fitted tube model (nan when the fit failed)
    depth: float = float("nan")  # median darkness along the centreline below its profiles' background (image units)
    darkness: float = float("nan")  # the fitted tube's darkening per pixel of chord (image units; nan: no fit)


def resample_polyline(points: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along a polyline (the last point kept)."""
    if len(points) < 2:
        return points.astype(float)
    arc = arc_length(points)
    if arc[-1] == 0:
        return points[:1].astype(float)
    s = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    return np.column_stack([np.interp(s, arc, points[:, k]) for k in range(points.shape[1])])


def without_end_folds(points: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """The path without the ends that fold back along it: where the path turns back (a step
    against its direction over the ``FOLD_CHORD_PX`` before it: a sharp turn or a U-turn spread
    over several steps) and everything after that turn lies within ``reach`` (pixels) of the path
    before it, the part after is dropped (at either end, when it is the shorter part). Where a vein
    bends tightly at the end of a segmented piece, the profiles across the bend read the piece's own
    arm, centring moves the bend's points back onto it and the path doubles back; left in, the chord
    is short (tortuosity 2-5 on 8-11 mm fragments at SNR 10) and the end's tangent points backwards
    (the end was then extended 3 mm along the vein's own arm: seed 408 of ``benchmarks/vein.py
    --learned --first-seed 400``, tortuosity 1.47 for a true 1.07). A tight bend inside the path (a
    sinusoid's apex can turn by more than 90 degrees in one 0.5-pixel step) goes on away from itself
    and is kept."""
    back = max(round(FOLD_CHORD_PX / STEP_PX), 1)
    for _ in range(2):  # the last end, then (reversed) the first
        step = np.diff(points, axis=0)
        turns_back = np.zeros(len(step), bool)
        for m in range(1, back + 1):  # step k against the chord from point k - m to point k
            turns_back[m:] |= (step[m:] * (points[m:-1] - points[: -1 - m])).sum(axis=1) < 0
        for k in np.flatnonzero(turns_back):  # the path turns back at point k
            head, tail = points[: k + 1], points[k + 1 :]
            if len(tail) < len(head) and np.linalg.norm(tail[:, None] - head[None], axis=2).min(axis=1).max() <= reach:
                points = head
                break
        points = points[::-1]
    return points


def smooth_along(points: np.ndarray, sd_samples: float) -> np.ndarray:
    """Gaussian smoothing of a path's coordinates along it; both end points kept."""
    from scipy.ndimage import gaussian_filter1d

    if len(points) < 4 or sd_samples <= 0:
        return points.astype(float)
    out = gaussian_filter1d(points.astype(float), sd_samples, axis=0, mode="nearest")
    out[0], out[-1] = points[0], points[-1]
    return out


def spline_smoothing(points: np.ndarray, every: int = 2) -> np.ndarray:
    """Each coordinate of a path smoothed along it by a cubic smoothing spline whose smoothing is
    chosen by generalised cross-validation (SciPy's ``make_smoothing_spline``): as much as the
    jitter of the points asks for, not more, so bends are kept. The spline is fitted on every
    ``every``-th point and evaluated on all. GCV assumes independent errors, but the centres of
    profiles 0.5 pixel apart share their pixels: fitted on all of them, it took the noise for
    shape and kept it (at SNR 10, 0.5 mm pixels, the centreline turned by 14 degrees sd per 0.25 mm
    step, a straight vein measured tortuosity 1.02-1.06); on points a pixel apart it smooths it
    away (``benchmarks/vein.py``)."""
    from scipy.interpolate import make_smoothing_spline

    if len(points) < 6 * every:  # too few points to fit
        return points.astype(float)
    s = np.arange(len(points), dtype=float)
    knots = s[::every]
    return np.column_stack([make_smoothing_spline(knots, points[::every, k])(s) for k in range(points.shape[1])])


def unit_normals(points: np.ndarray) -> np.ndarray:
    """(M, 2) unit normals of a path (its tangent turned by 90 degrees)."""
    tangent = np.gradient(points, axis=0) if len(points) > 1 else np.array([[1.0, 0.0]])
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    return np.column_stack([-tangent[:, 1], tangent[:, 0]])


def first_crossing(points: np.ndarray, start: int = 0) -> tuple[int, int, np.ndarray] | None:
    """The first place a polyline crosses itself: segments a < b (b > a + 1, a >= ``start``) and the
    crossing point, the loop between them the shortest of those starting at the smallest a; None
    if it never does."""
    p, q = points[:-1], points[1:]
    r = q - p
    for a in range(start, len(r) - 2):
        others = slice(a + 2, len(r))
        s, offset = r[others], p[others] - p[a]
        den = r[a, 0] * s[:, 1] - r[a, 1] * s[:, 0]
        valid = np.abs(den) > 1e-12
        den = np.where(valid, den, 1.0)
        t = (offset[:, 0] * s[:, 1] - offset[:, 1] * s[:, 0]) / den
        u = (offset[:, 0] * r[a, 1] - offset[:, 1] * r[a, 0]) / den
        hit = np.flatnonzero(valid & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1))
        if hit.size:
            return a, a + 2 + int(hit[0]), p[a] + t[hit[0]] * r[a]
    return None


def without_loops(points: np.ndarray) -> np.ndarray:
    """The polyline with every loop it makes cut out at its crossing. A vein's axis never crosses
    itself; the tube model's can, where a vein bends with a radius of curvature below its own radius
    (the bend's inside is then all vein, and the axis may swing round it): on a 1.7 mm vein of
    wavelength 5-8 mm at 0.5 mm pixels six such loops of 1.6-5 mm took its tortuosity from 1.69 to
    1.97 (a script outside the repository)."""
    points = np.asarray(points, float)
    a = 0
    # cutting a loop leaves parts of segments a and b, so no segment before a can cross anew
    while (crossing := first_crossing(points, a)) is not None:
        a, b, at = crossing
        points = np.vstack([points[: a + 1], at[None], points[b + 1 :]])
    return points


def largest_turn(points: np.ndarray, arc: float) -> float:
    """The largest change of direction (radians) of a path of evenly spaced points over any stretch
    of ``arc`` (the points' units): a bend's, not a kink's (a wiggle of noise turns the path by a
    large angle in a short step, and back). The last half ``arc`` at either end is left out: a
    centred path often hooks where the vein fades."""
    step = float(np.median(np.linalg.norm(np.diff(points, axis=0), axis=1))) if len(points) > 1 else 1.0
    n = max(round(arc / max(step, 1e-9)), 1)
    inner = np.asarray(points)[n // 2 : len(points) - n // 2]
    if len(inner) < 3:
        return 0.0
    tangent = np.gradient(inner, axis=0)
    angle = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    n = min(n, len(inner) - 1)
    return float(np.max(np.abs(angle[n:] - angle[:-n])))


@dataclass(frozen=True)
class SlabSlices:
    """The slices (X, Y, K) a MinIP was taken over, in the MinIP's units and on its pixels, and
    their thickness in pixels when known."""

    slices: np.ndarray
    slice_px: float | None = None

    @cached_property
    def near_minimum(self) -> np.ndarray:
        """(X, Y, K): at slice k, the minimum over slices k - ``NEAR_SLICES`` ... k + ``NEAR_SLICES``."""
        from scipy.ndimage import minimum_filter1d

        return minimum_filter1d(self.slices, 2 * NEAR_SLICES + 1, axis=2, mode="nearest")

    def darkest(self, path: np.ndarray) -> np.ndarray:
        """For each point of ``path`` (pixels), the slice where the vein is darkest: the darkest slice
        at its nearest pixel, as a running median over ``DARKEST_SMOOTHING`` points (noise picks a
        slice at random where the vein is faint)."""
        from scipy.ndimage import median_filter

        pixel = np.clip(np.round(path).astype(int), 0, np.array(self.slices.shape[:2]) - 1)
        darkest = self.slices[pixel[:, 0], pixel[:, 1]].argmin(axis=1).astype(float)
        return np.round(median_filter(darkest, size=min(DARKEST_SMOOTHING, len(darkest)), mode="nearest"))

    def sample(self, points: np.ndarray, slice_index: np.ndarray) -> np.ndarray:
        """Bilinear samples at pixel positions ``points`` (M, K, 2), profile m on ``near_minimum``'s
        slice ``slice_index[m]``."""
        from scipy.ndimage import map_coordinates

        k = np.broadcast_to(slice_index[:, None, None], (*points.shape[:2], 1))
        coordinates = np.concatenate([points, k], axis=-1).reshape(-1, 3).T
        return map_coordinates(self.near_minimum, coordinates, order=1, mode="nearest").reshape(points.shape[:2])


def sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at pixel positions (..., 2)."""
    from scipy.ndimage import map_coordinates

    flat = points.reshape(-1, 2).T
    return map_coordinates(image, flat, order=1, mode="nearest").reshape(points.shape[:-1])


def profiles(image: np.ndarray, centres: np.ndarray, normals: np.ndarray, half_width: float) -> tuple:
    """Profiles across the vein: offsets u (K,) and samples (M, K); the local background (M,) is
    the median of the outer third on each side."""
    u = np.arange(-half_width, half_width + 1e-9, PROFILE_STEP_PX)
    values = sample(image, centres[:, None, :] + u[None, :, None] * normals[:, None, :])
    outer = np.abs(u) >= 2 * half_width / 3
    background = np.median(values[:, outer], axis=1)
    return u, values, background


def central_dip(u: np.ndarray, dip: np.ndarray) -> np.ndarray:
    """The dip (M, K; > 0 darker than background) kept only in the lobe that holds each profile's
    deepest point nearest the centre (a neighbouring vein in the profile does not pull)."""
    kept = np.zeros_like(dip)
    centre = np.abs(u) <= 1.0
    for m, row in enumerate(dip):
        start = int(np.flatnonzero(centre)[np.argmax(row[centre])])
        lo, hi = start, start
        while lo > 0 and row[lo - 1] > 0:
            lo -= 1
        while hi < len(row) - 1 and row[hi + 1] > 0:
            hi += 1
        kept[m, lo : hi + 1] = np.clip(row[lo : hi + 1], 0, None)
    return kept


def half_depth_midpoint(u: np.ndarray, dip: np.ndarray) -> float:
    """The midpoint of the two points where a central dip (one profile) crosses half its depth,
    each interpolated between samples (0 for a profile without a dip)."""
    if dip.max() <= 0:
        return 0.0
    k = int(np.argmax(dip))
    half = dip[k] / 2
    left = k
    while left > 0 and dip[left - 1] >= half:
        left -= 1
    right = k
    while right < len(dip) - 1 and dip[right + 1] >= half:
        right += 1
    lo = (
        u[left]
        if left == 0
        else u[left - 1] + (half - dip[left - 1]) / (dip[left] - dip[left - 1]) * (u[left] - u[left - 1])
    )
    hi = (
        u[right]
        if right == len(dip) - 1
        else u[right] + (dip[right] - half) / (dip[right] - dip[right + 1]) * (u[right + 1] - u[right])
    )
    return float((lo + hi) / 2)


def centred(image: np.ndarray, path: np.ndarray, half_width: float, by: str = "half") -> np.ndarray:
    """One centring pass: each point moved along its normal to the middle of the central dip
    (``by="half"``: the midpoint of its half-depth crossings, steady on flat-bottomed dips and at
    bends) or to its centroid (``"centroid"``: the least jitter on a straight stretch, the centre
    the diameter fit reads profiles around)."""
    normals = unit_normals(path)
    u, values, background = profiles(image, path, normals, half_width)
    dip = central_dip(u, background[:, None] - values)
    if by == "centroid":
        weight = dip.sum(axis=1)
        shift = np.where(weight > 0, (dip * u).sum(axis=1) / np.maximum(weight, 1e-12), 0.0)
    else:
        shift = np.array([half_depth_midpoint(u, row) for row in dip])
    return path + shift[:, None] * normals


def end_offset(image: np.ndarray, path: np.ndarray, half_width: float, reference: float, radius: float) -> float:
    """How far (pixels, along the path's end tangent; < 0: inwards) the centreline's end lies from
    ``path[-1]``: the half-depth point of the vein's end, minus ``END_CAP`` radii."""
    tangent = end_tangent(path)
    normal = np.array([-tangent[1], tangent[0]])
    inside = path[-int(4 / STEP_PX) :]  # the last 4 pixels of the vein
    beyond = path[-1] + np.arange(STEP_PX, half_width + radius + 2, STEP_PX)[:, None] * tangent
    points = np.vstack([inside, beyond])
    s = np.concatenate([-np.arange(len(inside))[::-1] * STEP_PX, np.arange(1, len(beyond) + 1) * STEP_PX])
    _, values, background = profiles(image, points, np.repeat(normal[None], len(points), 0), half_width)
    depth = background - values[:, values.shape[1] // 2]
    below = np.flatnonzero((depth < reference / 2) & (s > -len(inside) * STEP_PX / 2))
    if not len(below):
        return float(s[-1] - END_CAP * radius)
    k = int(below[0])
    d0, d1 = depth[k - 1], depth[k]  # the crossing, linear between samples k-1 and k
    if d0 >= reference / 2 and d0 > d1:
        crossing = s[k - 1] + (d0 - reference / 2) / (d0 - d1) * (s[k] - s[k - 1])
    else:  # already below half depth where the search starts
        crossing = s[k]
    return float(crossing - END_CAP * radius)


def end_tangent(path: np.ndarray) -> np.ndarray:
    """The unit direction in which ``path`` ends: the chord from its last point at least
    ``END_TANGENT_PX`` back (the last step, unless it is the few hundredths of a pixel that
    resampling can leave, which point anywhere; a longer chord would cut a tight bend's end)."""
    arc = arc_length(path)
    start = min(int(np.searchsorted(arc, arc[-1] - END_TANGENT_PX, side="right")) - 1, len(path) - 2)
    chord = path[-1] - path[max(start, 0)]
    return chord / max(np.linalg.norm(chord), 1e-12)


def with_end(path: np.ndarray, offset: float) -> np.ndarray:
    """``path`` trimmed (offset < 0) or extended straight on (offset > 0) at its last point."""
    if offset >= 0:
        return np.vstack([path, path[-1] + offset * end_tangent(path)]) if offset > 1e-6 else path
    arc = arc_length(path)
    keep = max(arc[-1] + offset, 0.0)
    last = int(np.searchsorted(arc, keep))
    point = np.array([np.interp(keep, arc, path[:, k]) for k in range(2)])
    return np.vstack([path[:last], point])


def pixel_profile(fine: np.ndarray, radius: float, direction: np.ndarray, slice_px: float | None = None) -> np.ndarray:
    """A pixel's darkness at signed distances ``fine`` (pixels, across the vein) from the axis of a
    tube of ``radius``: the disc's half-chord averaged over the pixel's square, projected on the
    profile ``direction`` (two boxes of widths |cos| and |sin|). With ``slice_px`` (the slices'
    thickness, pixels) the chord is its part inside the slice the axis is centred in: a voxel is at
    most all vein."""
    step = fine[1] - fine[0]
    chord = np.sqrt(np.clip(radius**2 - fine**2, 0, None))
    if slice_px is not None:
        chord = np.minimum(chord, slice_px / 2)
    kernel = np.array([1.0])
    for width in np.abs(direction):
        if width >= step:
            kernel = np.convolve(kernel, np.ones(round(float(width) / step)))
    return np.convolve(chord, kernel / kernel.sum(), mode="same")


@dataclass(frozen=True)
class ProfileSamples:
    """Profile samples prepared for the tube-model fit: each observed dip below its profile's
    background (a line through the profile's outer thirds: tissue changes across a vein), and for each sample the four pixels bilinear interpolation read it from (their
    signed distance from the vein's axis, pixels, and their weights)."""

    dip: np.ndarray  # (N,)
    distances: np.ndarray  # (N, 4)
    weights: np.ndarray  # (N, 4)
    direction: np.ndarray  # mean profile direction (unit, in pixel axes), for the pixel's projection


def profile_samples(
    image: np.ndarray,
    path: np.ndarray,
    half_width: float,
    every: int,
    slab: SlabSlices | None = None,
    keep: np.ndarray | None = None,
) -> ProfileSamples:
    """Samples across the vein at every ``every``-th point of a centred ``path`` (of its points
    where ``keep``, when given), on ``image`` or, when given, on the ``slab`` slices where the vein
    is darkest."""
    keep = np.ones(len(path), bool) if keep is None else keep
    normals = unit_normals(path)[keep][::every]
    centres = path[keep][::every]
    u = np.arange(-half_width, half_width + 1e-9, PROFILE_STEP_PX)
    across = centres[:, None, :] + u[None, :, None] * normals[:, None, :]
    values = sample(image, across) if slab is None else slab.sample(across, slab.darkest(path)[keep][::every])
    outer = np.abs(u) >= 2 * half_width / 3  # the background of each profile: a line through its outer thirds
    design = np.column_stack([np.ones(outer.sum()), u[outer]])
    line, *_ = np.linalg.lstsq(design, values[:, outer].T, rcond=None)
    background = line[0][:, None] + line[1][:, None] * u[None, :]
    base = np.floor(across)
    frac = across - base
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    pixel = base[..., None, :] + corners  # (M, K, 4, 2)
    weights = np.prod(np.where(corners == 1, frac[..., None, :], 1 - frac[..., None, :]), axis=-1)
    distances = ((pixel - centres[:, None, None, :]) * normals[:, None, None, :]).sum(-1)
    direction = np.abs(normals).mean(axis=0)
    return ProfileSamples(
        (background - values).reshape(-1),
        distances.reshape(-1, 4),
        weights.reshape(-1, 4),
        direction / np.linalg.norm(direction),
    )


def fit_diameter(samples: ProfileSamples, guess: float, slice_px: float | None = None) -> tuple[float, float]:
    """2 r of the tube model fitted to the profile samples by least squares (free depth and a
    background offset), and its darkening per pixel of chord; nans when the fit fails. With the
    slices' thickness known (``slice_px``, pixels), the chord is bounded by the slice the tube's
    axis is centred in (``pixel_profile``): a tube wider than the slices has a flat-bottomed dip."""
    from scipy.optimize import least_squares

    fine = np.arange(-12.0, 12.0 + 1e-9, 0.02)

    def residual(x: np.ndarray) -> np.ndarray:
        offset, scale, radius = x
        darkness = np.interp(samples.distances, fine, pixel_profile(fine, radius, samples.direction, slice_px))
        return offset + scale * (darkness * samples.weights).sum(axis=1) - samples.dip

    radius0 = float(np.clip(guess / 2, 0.3, 6.0))
    depth0 = max(float(np.percentile(samples.dip, 95)), 1e-6)
    try:
        fit = least_squares(
            residual, np.array([0.0, depth0 / radius0, radius0]), bounds=([-np.inf, 0.0, 0.05], [np.inf, np.inf, 8.0])
        )
    except ValueError:
        return float("nan"), float("nan")
    return (float(2 * fit.x[2]), float(fit.x[1])) if fit.success else (float("nan"), float("nan"))


def refine(
    image: np.ndarray,
    pixel_path: np.ndarray,
    width_px: float,
    noise: float | None = None,
    tube_axis: bool = True,
    slab: SlabSlices | None = None,
    found: np.ndarray | None = None,
) -> Refined:
    """Measure one vein on ``image`` (dark veins; any intensity scale), starting from its skeleton's
    pixel path (M, 2) and its rough width (pixels): see the module docstring. ``noise``: the
    image's noise sd, for the tube model's smoothness prior (none when not given); ``tube_axis``:
    whether to fit the tube model's axis (not for a mask standing in for an image: its flat,
    stair-stepped band is no tube); ``slab``: the slices ``image`` is the MinIP of, for the
    diameter (the MinIP's own profiles when the fit on them fails); ``found``: the pixels where the
    segmentation found the vein (a boolean image; all when not given): its depth and diameter are
    read there, not on the faint stretches joined or followed across (``glymph.vein.segmentation``)."""
    half_width = max(MIN_HALF_WIDTH_PX, 1.5 * width_px)
    path = resample_polyline(smooth_along(pixel_path.astype(float), 1.0), STEP_PX)
    if len(path) < 3:
        return Refined(path, float("nan"))
    for _ in range(2):  # each pass's normals from the points the last one moved
        path = resample_polyline(spline_smoothing(centred(image, path, half_width), EVERY), STEP_PX)
    path = without_end_folds(path, reach=max(1.0, width_px))  # two arms of one tube lie at least its width apart
    if len(path) < 3:
        return Refined(path, float("nan"))
    _, _, background = profiles(image, path, unit_normals(path), half_width)
    margin = int(2 / STEP_PX) if len(path) > 3 * int(2 / STEP_PX) else 0
    interior = np.zeros(len(path), bool)
    interior[margin : len(path) - margin] = True
    if found is not None:
        pixel = np.clip(np.round(path).astype(int), 0, np.array(found.shape) - 1)
        on_found = interior & found[pixel[:, 0], pixel[:, 1]]
        interior = on_found if on_found.sum() >= 3 else interior
    reference = float(np.median((background - sample(image, path))[interior]))
    span = np.flatnonzero(interior)
    inner = centred(image, path[span[0] : span[-1] + 1], half_width, by="centroid")
    keep = interior[span[0] : span[-1] + 1]
    every = max(int(keep.sum()) // 30, 1)
    diameter = darkness = float("nan")
    thickness = slab.slice_px if slab is not None else None
    if slab is not None:
        samples = profile_samples(image, inner, half_width, every, slab, keep)
        diameter, darkness = fit_diameter(samples, width_px, thickness)
    if not np.isfinite(diameter):  # no slab, or no tube on it
        diameter, darkness = fit_diameter(
            profile_samples(image, inner, half_width, every, keep=keep), width_px, thickness
        )
    radius = diameter / 2 if np.isfinite(diameter) else width_px / 2
    if reference <= 0:
        return Refined(path, diameter, reference, darkness)
    # the ends are found on the dip's middle (the tube model's axis is free to wander where it ends)
    # and moved by as much along the axis
    ends = (
        end_offset(image, path, half_width, reference, radius),
        end_offset(image, path[::-1], half_width, reference, radius),
    )
    tight = tube_axis and largest_turn(path, TIGHT_BEND_RADII * radius) > 1.0
    fitted = fit_tube_axis(image, path, unit_normals(path), radius, noise) if tight else None
    if fitted is not None:
        path = resample_polyline(without_loops(fitted[0]), STEP_PX)
    path = with_end(path, ends[0])
    if len(path) >= 2:
        path = with_end(path[::-1], ends[1])[::-1]
    return Refined(path, diameter, reference, darkness)

"""Superficial vein segmentation on a 2D MinIP: each method takes ``VeinInputs`` and returns a
boolean mask; the registry of methods is ``glymph.defaults.VEIN_METHODS``.

``classical`` needs no trained model: multi-scale Frangi vesselness of dark ridges (scikit-image,
2D) on the MinIP divided by its brain median, hysteresis thresholding, inside the brain (minus a
``RIM_MM`` rim where the brain edge itself looks like a dark ridge). The hysteresis thresholds
follow the image's noise: multiples of the vesselness that pure noise of the MinIP's noise sd
reaches (its 99.9th percentile), never below fixed floors (anatomy: the cortical ribbon between
CSF and white matter is a faint dark ridge at any noise). Frangi's parameters were set on one
phantom (seed 1); the thresholds on the 18 phantoms of seeds 301-318, where with the final
morphometry they equal the former fixed ones in cases within the goals and lower the count error
(``benchmarks/vein.py --calibrate``); reported on others (README, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

import numpy as np

from glymph.errors import GlymphError

SIGMAS_MM = (0.5, 1.0, 1.5)
FRANGI_BETA, FRANGI_GAMMA = 0.5, 0.15
HIGH, LOW = 0.05, 0.02  # floors of the hysteresis thresholds on the vesselness
NOISE_HIGH, NOISE_LOW = 1.5, 0.6  # the thresholds in multiples of pure noise's vesselness
NOISE_QUANTILE = 0.999
NOISE_PATCH = 160  # pixels a side of the simulated noise (a 16-pixel margin is left out)
MAX_RATIO = 0.92  # a vein pixel is darker than this fraction of the brain median
RIM_MM = 2.0


@dataclass(frozen=True)
class VeinInputs:
    """The analysis slice: MinIP (divided by its brain median), brain mask, pixel size (mm), and the
    slab's slices the MinIP was taken over (X, Y, K, in the MinIP's units; None for a 2D MinIP)."""

    minip: np.ndarray
    brain: np.ndarray
    spacing_mm: float
    slab: np.ndarray | None = None

    @classmethod
    def scaled(
        cls, minip: np.ndarray, brain: np.ndarray, spacing_mm: float, slab: np.ndarray | None = None
    ) -> VeinInputs:
        """The inputs with the MinIP (and its slab's slices) divided by the MinIP's brain median."""
        median = float(np.median(minip[brain])) if brain.any() else 0.0
        if median <= 0:
            raise GlymphError("the MinIP is empty inside the brain; check the image and the mask")
        return cls(minip / median, brain, spacing_mm, None if slab is None else slab / median)

    @cached_property
    def noise_sd(self) -> float:
        """The MinIP's noise standard deviation inside the brain (``glymph.vein.morphometry.noise_sd``),
        read once for the thresholds and the morphometry's contrast test."""
        from glymph.vein.morphometry import noise_sd

        return noise_sd(self.minip, self.brain)

    @cached_property
    def background(self) -> np.ndarray:
        """The MinIP's ``BACKGROUND_MM`` median filter: the brain around a faint stretch, read once
        for following faint ends and for the dark-route joins."""
        from scipy import ndimage

        return ndimage.median_filter(self.minip.astype(float), size=round(BACKGROUND_MM / self.spacing_mm) | 1)


def analysis_region(inputs: VeinInputs) -> np.ndarray:
    """The brain less a ``RIM_MM`` rim, where the brain's own edge would look like a dark ridge."""
    from scipy import ndimage

    return ndimage.binary_erosion(inputs.brain, iterations=max(round(RIM_MM / inputs.spacing_mm), 1))


def vesselness(image: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Frangi vesselness of dark ridges at ``SIGMAS_MM`` (scikit-image, 2D; image in units of the
    brain median)."""
    from skimage.filters import frangi

    sigmas = [s / spacing_mm for s in SIGMAS_MM]
    return frangi(
        image.astype(np.float32), sigmas=sigmas, beta=FRANGI_BETA, gamma=FRANGI_GAMMA, black_ridges=True, mode="reflect"
    )


def noise_vesselness(noise_sd: float, spacing_mm: float) -> float:
    """The ``NOISE_QUANTILE`` of the vesselness of white Gaussian noise of ``noise_sd`` (in units of
    the brain median) around 1, on pixels of ``spacing_mm`` (fixed seed: the same every run)."""
    noise = 1.0 + noise_sd * np.random.default_rng(0).standard_normal((NOISE_PATCH, NOISE_PATCH))
    return float(np.quantile(vesselness(noise, spacing_mm)[16:-16, 16:-16], NOISE_QUANTILE))


def hysteresis_thresholds(inputs: VeinInputs) -> tuple[float, float]:
    """(low, high) vesselness thresholds for this MinIP: ``NOISE_LOW`` / ``NOISE_HIGH`` times the
    vesselness its noise alone reaches, at least ``LOW`` / ``HIGH``."""
    reference = noise_vesselness(inputs.noise_sd, inputs.spacing_mm)
    return max(LOW, NOISE_LOW * reference), max(HIGH, NOISE_HIGH * reference)


def segment_classical(inputs: VeinInputs) -> np.ndarray:
    """The classical vein segmentation (see the module docstring)."""
    from skimage.filters import apply_hysteresis_threshold

    region = analysis_region(inputs)
    response = np.where(region, vesselness(inputs.minip, inputs.spacing_mm), 0.0)
    low, high = hysteresis_thresholds(inputs)
    return apply_hysteresis_threshold(response, low, high) & (inputs.minip < MAX_RATIO) & region


GAP_MM = 4.0  # a vein's two pieces are joined across at most this gap between their skeletons' ends
GAP_CONTRAST = 0.05  # the gap must be this much darker (fraction) than the brain beside it
SIDE_MM = 2.5  # how far beside the gap the brain it is compared with lies


def skeleton_ends(skeleton: np.ndarray) -> np.ndarray:
    """End points (N, 2 pixel indices) of a skeleton: its pixels with one 8-neighbour."""
    from scipy import ndimage

    neighbours = ndimage.convolve(skeleton.astype(np.int32), np.ones((3, 3), np.int32), mode="constant") - 1
    return np.argwhere(skeleton & (neighbours == 1))


def gap_contrast(image: np.ndarray, a: np.ndarray, b: np.ndarray, side_px: float) -> float:
    """How much darker (fraction) the straight line from pixel ``a`` to ``b`` is than the lines
    beside it, ``side_px`` pixels away on either side (bilinear samples every half pixel)."""
    from scipy.ndimage import map_coordinates

    gap = (b - a).astype(float)
    n = max(int(np.ceil(2 * np.linalg.norm(gap))), 2)
    points = a + np.linspace(0, 1, n)[:, None] * gap
    across = np.array([-gap[1], gap[0]]) / np.linalg.norm(gap)

    def mean_along(offset: float) -> float:
        return float(map_coordinates(image, (points + offset * across).T, order=1, mode="nearest").mean())

    beside = (mean_along(side_px) + mean_along(-side_px)) / 2
    return 1 - mean_along(0.0) / beside if beside > 0 else 0.0


@dataclass(frozen=True)
class PieceEnds:
    """A segmentation's pieces (8-connected components), their skeleton and its end points."""

    pieces: np.ndarray  # component labels
    skeleton: np.ndarray
    ends: np.ndarray  # (N, 2) pixel indices of the skeleton's end points
    piece: np.ndarray  # (N,) the label of each end's piece

    @classmethod
    def of(cls, segmentation: np.ndarray) -> PieceEnds:
        from skimage.measure import label
        from skimage.morphology import skeletonize

        pieces = label(segmentation, connectivity=2)
        skeleton = skeletonize(segmentation)
        ends = skeleton_ends(skeleton)
        return cls(pieces, skeleton, ends, pieces[tuple(ends.T)])

    def mutual_nearest(self, max_mm: float, spacing_mm: float) -> list[tuple[int, int, float]]:
        """(a, b, distance in pixels) for ends of different pieces, each the other's nearest end of
        another piece, at most ``max_mm`` apart: where one vein may have been broken. Ends on a pixel
        grid are often equally far from two others; each such tie counts as nearest, and every end
        is paired at most once (shortest pairs first, then in index order)."""
        if len(self.ends) < 2:
            return []
        distance = np.linalg.norm(self.ends[:, None] - self.ends[None], axis=-1)
        distance[self.piece[:, None] == self.piece[None]] = np.inf
        nearest_distance = distance.min(axis=1)
        mutual = (distance <= nearest_distance[:, None]) & (distance <= nearest_distance[None])
        mutual &= distance * spacing_mm <= max_mm
        pairs, paired = [], set()
        for a, b in sorted(zip(*np.nonzero(np.triu(mutual, 1)), strict=True), key=lambda ab: distance[ab]):
            if a not in paired and b not in paired:
                pairs.append((int(a), int(b), float(distance[a, b])))
                paired |= {a, b}
        return pairs

    def direction(self, end: int, reach_px: float) -> np.ndarray:
        """Unit direction (pixels) in which end ``end``'s piece leaves through it: from the mean of
        the piece's skeleton within ``reach_px`` of it."""
        points = np.argwhere(self.skeleton & (self.pieces == self.piece[end]))
        near = points[np.linalg.norm(points - self.ends[end], axis=1) <= reach_px]
        direction = self.ends[end] - near.mean(axis=0)
        return direction / max(float(np.linalg.norm(direction)), 1e-9)


def bridge_gaps(segmentation: np.ndarray, inputs: VeinInputs) -> np.ndarray:
    """The segmentation with its pieces' faint ends followed (``extend_faint_ends``), then each
    vein's pieces joined where a faint stretch broke it: two skeleton
    ends of different pieces, each the other's nearest end of another piece, at most ``GAP_MM``
    apart, with the MinIP along the straight line between them at least ``GAP_CONTRAST`` darker
    than beside it (a dark ridge continues across the gap) and inside the brain, are joined by that
    line. Tortuous veins, whose ends point anywhere, are why no direction is required. A vein
    broken in two would otherwise count as two shorter, straighter veins. Longer faint stretches
    are then crossed along dark routes (``join_along_dark_routes``)."""
    from skimage.draw import line

    segmentation = extend_faint_ends(segmentation, inputs)
    piece_ends = PieceEnds.of(segmentation)
    ends = piece_ends.ends
    bridged = segmentation.copy()
    side_px = SIDE_MM / inputs.spacing_mm
    for a, b, _ in piece_ends.mutual_nearest(GAP_MM, inputs.spacing_mm):
        rows, columns = line(*ends[a], *ends[b])
        if inputs.brain[rows, columns].all() and gap_contrast(inputs.minip, ends[a], ends[b], side_px) >= GAP_CONTRAST:
            bridged[rows, columns] = True
    return join_along_dark_routes(bridged, inputs)


EXTEND_MM = 10.0  # an end is followed at most this far
EXTEND_FROM_MM = 4.0  # only pieces whose skeleton is at least this long are followed (not noise fragments)
EXTEND_STEP_PX = 0.7
EXTEND_TURN_DEG = (-40.0, -20.0, 0.0, 20.0, 40.0)  # the directions each step may take from the last
EXTEND_SMOOTHING_MM = 0.5  # Gaussian sd (at least 0.7 pixel) of the image the steps read
EXTEND_NOISE = 2.5  # a step's darkness at least this many sd of the smoothed image's noise ...
EXTEND_DEPTH = 0.15  # ... and this share of the piece's own darkness (not grey matter, not a sulcus) ...
EXTEND_BESIDE = 2.0  # ... and above the darkness this many smoothing sd either side of it ...
EXTEND_RIDGE = 2.0  # ... by this many sd of the smoothed noise (a ridge, not the slope of a dark end's halo)
EXTEND_AWAY = 0.25  # each step leaves its own piece by at least this share of its length
EXTEND_HALO = 1.5  # a walk's last this many smoothing sd are dropped


def extend_faint_ends(segmentation: np.ndarray, inputs: VeinInputs) -> np.ndarray:
    """The segmentation with each piece's skeleton ends followed into the faint stretch beyond them.

    A vein whose end fades (its calibre thins, or it passes between two slices of the slab) loses
    that stretch to the thresholds; a tortuous vein cut short reads straighter, and one broken by a
    faint stretch counts as two. From each skeleton end of a piece at least ``EXTEND_FROM_MM`` long,
    in the direction the piece leaves it (``TANGENT_MM``), steps of ``EXTEND_STEP_PX`` go to the
    darkest of ``EXTEND_TURN_DEG`` turns that lead away from the end's own piece (``EXTEND_AWAY``:
    the smoothed halo of the piece is darker than a faint continuation, and would draw the walk back
    along it) on the MinIP smoothed by ``EXTEND_SMOOTHING_MM`` (darkness: 1 - it over its
    ``BACKGROUND_MM`` median). A step is strong where that darkness is at least ``EXTEND_NOISE`` sd
    of the smoothed noise and ``EXTEND_DEPTH`` of the piece's own, and ``EXTEND_RIDGE`` sd above the
    mean darkness ``EXTEND_BESIDE`` smoothing sd either side of it (across the step). Weaker steps
    are passed over for two smoothing sd (the smoothed noise's dips are that wide), then end the
    walk, and are dropped from it, as is its last ``EXTEND_HALO`` smoothing sd (the halo of the
    faint stretch's own end, where noise turns a walk anywhere). A walk that reaches another piece
    joins it (it followed a dark ridge all the way there); one also stops outside the analysis
    region or after ``EXTEND_MM``. Each walk is drawn as a one-pixel line.

    The walks only add pixels; ``glymph.vein.morphometry.measure_veins`` reads each vein's depth
    (its contrast test) and diameter on the pixels the segmentation found (its ``found``), so a
    faint end followed does not dilute a faint vein's contrast. Measured on the vein benchmarks
    (README, "Faint ends followed"). Written here: scikit-image's tracing tools
    (``route_through_array``) need both ends of a route, and no kept library traces a 2D ridge
    from one end."""
    from scipy import ndimage
    from scipy.ndimage import map_coordinates
    from skimage.draw import line

    piece_ends = PieceEnds.of(segmentation)
    if not len(piece_ends.ends) or inputs.noise_sd <= 0:
        return segmentation
    spacing = inputs.spacing_mm
    sigma = max(EXTEND_SMOOTHING_MM / spacing, 0.7)
    darkness = 1 - ndimage.gaussian_filter(inputs.minip.astype(float), sigma) / np.maximum(inputs.background, 1e-6)
    noise = inputs.noise_sd / (2 * np.sqrt(np.pi) * sigma)  # white noise's sd after the 2D Gaussian
    allowed_weak = max(round(2 * sigma / EXTEND_STEP_PX), 1)  # the smoothed noise's dips span about 2 sd
    region = analysis_region(inputs)
    angles = np.deg2rad(EXTEND_TURN_DEG)
    turns = np.stack([[np.cos(angles), -np.sin(angles)], [np.sin(angles), np.cos(angles)]]).transpose(2, 0, 1)
    reach = int(EXTEND_MM / spacing) + 3  # a walk stays within this many pixels of its end
    extended = segmentation.copy()
    pieces, skeleton, piece = piece_ends.pieces, piece_ends.skeleton, piece_ends.piece
    skeleton_mm = np.bincount(pieces[skeleton], minlength=pieces.max() + 1) * spacing  # ~ each piece's length
    for end, start in enumerate(piece_ends.ends):
        if skeleton_mm[piece[end]] < EXTEND_FROM_MM:
            continue
        lo = np.maximum(start - reach, 0)
        box = tuple(slice(low, high) for low, high in zip(lo, start + reach + 1, strict=True))
        own = pieces[box] == piece[end]
        away = ndimage.distance_transform_edt(~own)  # pixels from the end's own piece
        least = max(EXTEND_NOISE * noise, EXTEND_DEPTH * float(np.median(darkness[box][skeleton[box] & own])))
        heading = piece_ends.direction(end, TANGENT_MM / spacing)
        path, weak, away_here, joined = [start - lo.astype(float)], 0, 0.0, False
        for _ in range(int(EXTEND_MM / spacing / EXTEND_STEP_PX)):
            options = turns @ heading  # (turns, 2) unit directions
            points = path[-1] + EXTEND_STEP_PX * options
            across = EXTEND_BESIDE * sigma * np.column_stack([-options[:, 1], options[:, 0]])
            values, left, right = (
                map_coordinates(darkness[box], (points + side).T, order=1, mode="nearest")
                for side in (0, across, -across)
            )
            ridge = values - (left + right) / 2
            distance = map_coordinates(away, points.T, order=1, mode="nearest")
            values[distance - away_here < EXTEND_AWAY * EXTEND_STEP_PX] = -np.inf
            best = int(np.argmax(values))
            if not np.isfinite(values[best]):
                break
            pixel = tuple(np.round(points[best]).astype(int) + lo)
            if not all(0 <= i < n for i, n in zip(pixel, region.shape, strict=True)) or not region[pixel]:
                break
            weak = weak + 1 if values[best] < least or ridge[best] < EXTEND_RIDGE * noise else 0
            if weak > allowed_weak:
                break
            path.append(points[best])
            if pieces[pixel] not in (0, piece[end]):  # another piece reached: joined
                weak, joined = 0, True
                break
            away_here = float(distance[best])
            heading = (heading + options[best]) / np.linalg.norm(heading + options[best])
        path = path[: len(path) - min(weak, allowed_weak)]  # a walk does not end on weak steps
        if not joined:  # nor in the smoothed halo of its own end, where noise turns it anywhere
            path = path[: max(len(path) - round(EXTEND_HALO * sigma / EXTEND_STEP_PX), 1)]
        for a, b in pairwise(path):
            extended[line(*(np.round(a).astype(int) + lo), *(np.round(b).astype(int) + lo))] = True
    return extended


ROUTE_MM = 10.0  # pieces whose facing ends are at most this far apart may be joined along a dark route
ROUTE_NOISE = (1.2, 4.0)  # the route's gap darker than its surroundings by this many noise sd (a faint stretch)
ROUTE_DETOUR = 1.5  # the route at most this many times the ends' distance
ROUTE_FACING = 0.5  # cosine: each end points within 60 degrees of the other
TANGENT_MM = 3.0  # an end's direction: from the mean of its skeleton within this distance
BACKGROUND_MM = 5.0  # median filter that stands for the brain around a route
ROUTE_DEPTH = 0.15  # ... and at least this fraction of the two pieces' own darkness (not mere grey matter)


def join_along_dark_routes(segmentation: np.ndarray, inputs: VeinInputs) -> np.ndarray:
    """The segmentation with pieces of one vein joined across longer faint stretches, along the
    least-cost route through dark pixels (scikit-image ``route_through_array``; cost: the smoothed
    MinIP over its ``BACKGROUND_MM`` median, to the 8th power): two skeleton ends of different
    pieces, each the other's nearest, at most ``ROUTE_MM`` apart, each pointing at the other
    (``ROUTE_FACING``), joined by a route no longer than ``ROUTE_DETOUR`` times their distance whose
    missing stretch is ``ROUTE_NOISE`` noise sd darker than its surroundings and at least
    ``ROUTE_DEPTH`` as dark (relative to them) as the two pieces. Set on seeds 301-318 (a script
    outside the repository): of 127 mutual-nearest pairs of ends there, 35 were pieces of one vein;
    these limits join 13 of those and 1 pair of different veins (without the facing test 27 and
    12). The depth limit came later: at SNR 40 a few noise sd is no more than grey matter, and two
    veins whose ends lined up along the cortex were joined
    (``test_two_veins_whose_ends_line_up_are_not_joined_along_grey_matter``)."""
    from scipy import ndimage
    from skimage.graph import route_through_array

    piece_ends = PieceEnds.of(segmentation)
    ends, pieces, piece = piece_ends.ends, piece_ends.pieces, piece_ends.piece
    reach = TANGENT_MM / inputs.spacing_mm
    facing = [
        (a, b, distance)
        for a, b, distance in piece_ends.mutual_nearest(ROUTE_MM, inputs.spacing_mm)
        if piece_ends.direction(a, reach) @ (ends[b] - ends[a]) / distance >= ROUTE_FACING
        and piece_ends.direction(b, reach) @ (ends[a] - ends[b]) / distance >= ROUTE_FACING
    ]
    if not facing or inputs.noise_sd <= 0:
        return segmentation
    image = inputs.minip.astype(float)
    smoothed = ndimage.gaussian_filter(image, 0.5)
    background = inputs.background
    joined = segmentation.copy()
    for a, b, distance in facing:
        lo = np.maximum(np.minimum(ends[a], ends[b]) - 8, 0)
        hi = np.minimum(np.maximum(ends[a], ends[b]) + 9, segmentation.shape)
        box = tuple(slice(low, high) for low, high in zip(lo, hi, strict=True))
        cost = np.clip(smoothed[box] / np.maximum(background[box], 1e-6), 0.5, 1.5) ** 8
        cost[((pieces[box] > 0) & (pieces[box] != piece[a]) & (pieces[box] != piece[b])) | ~inputs.brain[box]] = 1e3
        route, _ = route_through_array(
            cost, tuple(ends[a] - lo), tuple(ends[b] - lo), fully_connected=True, geometric=True
        )
        path = np.array(route) + lo
        on_path = tuple(path.T)
        gap = tuple(path[~segmentation[on_path]].T)
        if not len(gap[0]) or not inputs.brain[on_path].all():
            continue
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        around = background[gap].mean()
        darker = (around - image[gap].mean()) / around
        ends_of = np.isin(pieces[box], (piece[a], piece[b]))
        depth = float(np.median(1 - image[box][ends_of] / np.maximum(background[box][ends_of], 1e-6)))
        if (
            length <= ROUTE_DETOUR * distance
            and ROUTE_NOISE[0] <= darker / inputs.noise_sd < ROUTE_NOISE[1]
            and darker >= ROUTE_DEPTH * depth
        ):
            joined[on_path] = True
    return joined

"""Per-vein morphometry on a 2D segmentation and its image: skeleton, centreline, length,
tortuosity, diameter.

Definitions (SCV study; mm on the MinIP plane):

* a vein is an 8-connected component of the segmentation; its skeleton (scikit-image) is split
  into branches at end points and junctions as skan does;
* branching veins: the **main trunk** is the longest path between two end points of the
  skeleton graph (branch paths smoothed, Gaussian sd 1.5 pixels, to weigh them); ``branches``
  counts the skeleton's branches and ``total_length_mm`` sums them all;
* the trunk's **centreline** is then measured on the image (``glymph.vein.centreline``): centred
  to sub-pixel on the vein's intensity dip, lightly smoothed, and ended r sqrt(3) / 2 before the
  half-depth point of each rounded end, so tight bends and the ends are kept;
  ``length_mm`` is its length, ``start``/``end`` its end points;
* ``tortuosity`` = centreline length / straight distance between its end points (1 for a straight
  vein); ``tortuosity_vmtk`` = that minus 1 (VMTK's convention);
* ``diameter_mm``: 2 r of a tube model fitted to the vein's mean intensity profile across the
  centreline (sub-pixel: a blurred tube's width, not a count of pixels); where the fitted tube's
  darkness per pixel of chord is more than ``DARKNESS_BAND`` times off the median of the image's
  veins (a thin vein whose width the blur hides), the width of the tube of the image's darkness
  that darkens its profile as much; so too, always, where the fit collapsed to a line narrower
  than ``COLLAPSED_DIAMETER_PX`` (all darkness and no width: only its dip's area was measured);
  ``diameter_area_mm`` = area / total skeleton length (the study's definition, every branch
  counted as the area includes them); ``area_mm2`` = the component's pixel area.

Components whose centreline is shorter than ``min_length_mm`` are dropped (dots and fragments),
and so are those that are not tubes: shorter than ``MIN_ELONGATION`` times their width
(``elongation_width``: the larger diameter, or the profile's alone for a thin vein; dark dots and
patches: blooming, air-tissue signal loss), or, given the image's noise, less dark below their
surroundings (the median depth of the centreline's intensity dip) than ``MIN_CONTRAST_TO_NOISE``
noise standard deviations (chance alignments of noise at low SNR).
Given the pixels the segmentation itself found (``found``: before faint stretches were followed
or joined across, ``glymph.vein.segmentation.bridge_gaps``), the depth (for the contrast test) and
the diameter are read only on the centreline's stretches on them: a faint stretch followed or
joined lengthens a vein, but does not dilute its contrast or narrow its diameter.
Without an image (a segmentation alone) the segmentation's own inverse stands for it to centre
the centreline, and ``diameter_mm`` is the area / length one (a mask has no intensity profile).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from glymph.parallel import with_one_blas_thread
from glymph.vein.centreline import Refined, SlabSlices, refine, smooth_along

MIN_LENGTH_MM = 5.0
SMOOTHING_PIXELS = 1.5
# Set on the 18 phantoms of benchmarks/vein.py --learned (not the default benchmark's seeds 2-6),
# whose unmatched components were dark blobs and low-SNR noise fragments. With both limits that
# benchmark printed: worse hemisphere's count error 1.78 -> 0.89, tortuosity error 0.141 -> 0.069,
# true veins found 0.94 -> 0.92; seeds 2-6 unchanged.
MIN_ELONGATION = 4.0
# The elongation test reads a vein's width as the larger of its two diameters, except where the
# profile reads it under this many pixels wide: there the area / length diameter is mostly the
# pixels' (a 0.9 mm vein on 1 mm pixels reads 1.6 mm), and would call a short piece of a thin vein a
# dot. Kept on 2026-12-07 (README, "Elongation of thin veins by the profile"): benchmarks/vein.py
# --curving count error 1.00 -> 0.67, diameter error 17 -> 10 %; seeds 201-218 unchanged.
THIN_VEIN_PX = 1.5
MIN_CONTRAST_TO_NOISE = 1.7
# A tube fit narrower than this has traded all its width for darkness (a thin vein whose profile is
# the blur's): its diameter is read with the image's darkness, and its darkness tells nothing of the
# image's. Such fits were dropped as "no tube" until 2026-12-07; kept, benchmarks/vein.py --curving
# gets back a 0.88 mm vein of seed 709 (13.5 mm found, 4 noise sd deep) and a vein of seed 708
# (README, "Collapsed tube fits kept").
COLLAPSED_DIAMETER_PX = 0.2
# An SWI darkens a pixel by the path its line of sight takes through venous blood: one blood, about
# one darkening per pixel of chord for all of an image's veins. Where a thin vein's profile is more
# the blur's than its own, a free tube fit trades darkness for width (a wide faint tube, or a narrow
# deep one); the dip's area is still measured, and is read with the image's darkness instead.
# 1.5: of 1.25, 1.5 and 2, the best on the calibration phantoms (seeds 301-318, mean diameter error
# 5 / 4 / 5 %), once a vein wider than the slices was fitted with their thickness (before that, 2:
# narrower bands narrowed well-measured wide veins on --curving). Chosen again once the phantoms drew
# thin veins by their chord's share of each slice: 5.8 / 6.1 / 5.5 %, within all three goals 83 / 78
# / 83 %, a difference of two or three cases; kept, as --curving read worse with 2 (seed 702: 23 ->
# 29 %; seed 709's 1.0 mm vein 1.33 -> 1.74 mm; band runs by scripts). README, "Thin veins read with the image's darkness",
# "Veins wider than the slices" and "Partial volume drawn finely".
DARKNESS_BAND = 1.5
MEDIAN_RESIDUAL_GAIN = 0.8615  # 1.4826 MAD of (x - its 3x3 median) for unit white Gaussian noise (4e6 samples)


def elongation_width(diameter_area_mm: float, diameter_mm: float, spacing_mm: float) -> float:
    """The width (mm) a vein's length is compared with to tell a tube from a dot: the larger of its
    area / length and profile diameters, or the profile one alone where that reads the vein under
    ``THIN_VEIN_PX`` pixels wide."""
    if diameter_mm < THIN_VEIN_PX * spacing_mm:
        return diameter_mm
    return max(diameter_area_mm, diameter_mm)


def noise_sd(image: np.ndarray, inside: np.ndarray) -> float:
    """Noise standard deviation of a 2D image inside a mask, robust to the structures in it: the
    median absolute difference between each pixel and the median of its 3x3 neighbourhood, scaled
    to be the standard deviation of white Gaussian noise."""
    from scipy.ndimage import binary_erosion, median_filter

    core = binary_erosion(inside, iterations=3)
    residual = (image - median_filter(image, 3))[core if core.any() else inside]
    return float(1.4826 * np.median(np.abs(residual)) / MEDIAN_RESIDUAL_GAIN) if residual.size else 0.0


def image_darkness(measured: list[Refined]) -> float:
    """The darkening per pixel of chord of the image's veins: the median of their fitted tubes'
    (collapsed fits left out; nan when none was fitted)."""
    values = [
        r.darkness
        for r in measured
        if np.isfinite(r.darkness) and r.darkness > 0 and r.diameter_px >= COLLAPSED_DIAMETER_PX
    ]
    return float(np.median(values)) if values else float("nan")


def with_image_darkness(diameter_px: float, darkness: float, image_darkness: float) -> float:
    """A vein's diameter (pixels) from its tube fit, or, where the fit's darkness per pixel of chord
    is more than ``DARKNESS_BAND`` times off the image's or the fit collapsed (narrower than
    ``COLLAPSED_DIAMETER_PX``), the diameter of the tube of the image's darkness that darkens the
    profile as much (the same dip area, darkness x pi r^2 / 2); nan for a collapsed fit when the
    image's darkness is unknown."""
    ratio = darkness / image_darkness
    if not np.isfinite(ratio) or ratio <= 0:
        return diameter_px if diameter_px >= COLLAPSED_DIAMETER_PX else float("nan")
    if diameter_px >= COLLAPSED_DIAMETER_PX and 1 / DARKNESS_BAND <= ratio <= DARKNESS_BAND:
        return diameter_px
    return diameter_px * float(np.sqrt(ratio))


def path_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) > 1 else 0.0


@dataclass(frozen=True)
class Vein:
    id: int
    hemisphere: str  # "left" or "right"
    length_mm: float
    total_length_mm: float
    end_distance_mm: float
    tortuosity: float
    tortuosity_vmtk: float
    area_mm2: float
    diameter_mm: float  # tube model fitted to the intensity profile
    diameter_area_mm: float  # area / total skeleton length (SCV study)
    branches: int
    start: tuple[float, float]  # RAS x, y mm of the trunk's end points
    end: tuple[float, float]
    centroid: tuple[float, float]
    centreline: list[tuple[float, float]]  # trunk points, RAS x, y mm

    def as_row(self) -> dict:
        row = asdict(self)
        row.pop("centreline")
        (row["start_x"], row["start_y"]), (row["end_x"], row["end_y"]), (row["centroid_x"], row["centroid_y"]) = (
            row.pop("start"),
            row.pop("end"),
            row.pop("centroid"),
        )
        return row


@dataclass(frozen=True)
class _Measured:
    """A component measured on the image, before the tests that need the image's darkness."""

    component: int
    branches: int
    pixels: np.ndarray  # (N, 2) its pixels
    area_mm2: float
    total_length_mm: float
    diameter_area_mm: float
    refined: Refined
    centreline: np.ndarray  # (M, 2) RAS x, y mm
    length_mm: float


def _trunk(graph) -> list[int]:
    """Nodes of the longest shortest path between two end points (weighted by branch length)."""
    import networkx as nx

    ends = [n for n, d in graph.degree() if d == 1] or list(graph.nodes)
    best, best_path = -1.0, [ends[0]]
    for source in ends:
        distances, paths = nx.single_source_dijkstra(graph, source, weight="length")
        for target in ends:
            if target != source and distances.get(target, -1) > best:
                best, best_path = distances[target], paths[target]
    return best_path


def skeleton_branches(skeleton: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pixel coordinates (n, 2) of a 2D skeleton's pixels and its branches, each an array of
    indices into those coordinates, in order along the branch.

    A branch runs from an end point or junction (a pixel whose 8-neighbour count is not 2) through
    pixels with two neighbours to the next end point or junction; a closed loop with neither is one
    branch that starts and ends on the same pixel. Touching junction pixels are first linked only
    by their minimum spanning tree, so a junction is one node, not a triangle of tiny branches.
    This is skan's decomposition (the tests compare the two); it is written here because skan
    compiles its graph classes with numba in every new process, 3-5 s, more than the whole vein
    analysis.
    """
    from scipy.sparse import csgraph, csr_matrix
    from skimage.graph import pixel_graph

    graph, pixels = pixel_graph(skeleton.astype(bool), connectivity=2)
    coords = np.column_stack(np.unravel_index(pixels, skeleton.shape))
    junction = np.diff(graph.indptr) > 2
    edges = graph.tocoo()
    between = junction[edges.row] & junction[edges.col]
    if between.any():
        cluster = csr_matrix((edges.data[between], (edges.row[between], edges.col[between])), shape=graph.shape)
        tree = csgraph.minimum_spanning_tree(cluster)
        graph = graph - (cluster - (tree + tree.T))
        graph.eliminate_zeros()
    graph = graph.tocsr()
    degree = np.diff(graph.indptr)
    neighbours = [graph.indices[graph.indptr[i] : graph.indptr[i + 1]] for i in range(len(pixels))]
    walked: set[tuple[int, int]] = set()

    def walk(start: int, step: int) -> np.ndarray:
        path, previous, node = [start], start, step
        while True:
            walked.add((min(previous, node), max(previous, node)))
            path.append(node)
            if degree[node] != 2 or node == start:
                return np.array(path)
            first, second = neighbours[node]
            previous, node = node, int(second if first == previous else first)

    branches = []
    for start in [*np.flatnonzero(degree != 2), *np.flatnonzero(degree == 2)]:  # loops last
        for step in neighbours[start] if degree[start] != 2 else neighbours[start][:1]:
            if (min(start, step), max(start, step)) not in walked:
                branches.append(walk(int(start), int(step)))
    return coords, branches


def _trunk_and_total(branches: list[np.ndarray], coords: np.ndarray, world) -> tuple[np.ndarray, float]:
    """The main trunk of one vein's skeleton as its pixel path (M, 2), and the length (mm) of all
    its branches together (each smoothed). ``world`` maps pixel (i, j) to RAS (x, y) mm."""
    import networkx as nx

    graph = nx.Graph()
    paths = {}
    for branch in branches:
        length = path_length(world(smooth_along(coords[branch], SMOOTHING_PIXELS)))
        a, b = int(branch[0]), int(branch[-1])
        if not graph.has_edge(a, b) or graph[a][b]["length"] < length:  # keep the longer of parallel branches
            graph.add_edge(a, b, length=length)
            paths[(a, b)] = coords[branch]
            paths[(b, a)] = coords[branch][::-1]
    total = sum(graph[a][b]["length"] for a, b in graph.edges)
    trunk_nodes = _trunk(graph)
    pieces = []
    for a, b in itertools.pairwise(trunk_nodes):
        pieces.append(paths[(a, b)] if not pieces else paths[(a, b)][1:])
    return (np.concatenate(pieces) if pieces else coords[trunk_nodes]), total


@with_one_blas_thread  # the same last bits in a cohort's single-threaded tasks as in a single run
def measure_veins(
    segmentation: np.ndarray,
    affine2d: np.ndarray,
    side_of,
    min_length_mm: float = MIN_LENGTH_MM,
    image: np.ndarray | None = None,
    noise: float | None = None,
    slab: np.ndarray | None = None,
    slice_mm: float | None = None,
    found: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Vein]]:
    """Label map (vein ids 1..n on the slice) and measures of each vein.

    ``affine2d``: 3x3 pixel (i, j) -> RAS (x, y) mm; ``side_of(points (N, 2))`` gives a signed
    distance, > 0 on the subject's right (``glymph.vein.midline.Midline.side``); ``image``: the
    MinIP the segmentation was made from (veins dark), on the same pixels; ``noise``: its noise
    standard deviation (``noise_sd``), for the contrast test (none when not given); ``slab``: the
    slices (X, Y, K; the image's units) the image is the MinIP of, where the diameters are read
    (``glymph.vein.centreline.SlabSlices``; on the image itself when not given); ``slice_mm``: the
    slab slices' thickness, which bounds a vein's darkness (a voxel is at most all vein); ``found``:
    the pixels the segmentation itself found, before faint stretches were followed or joined
    (``glymph.vein.segmentation.bridge_gaps``): each vein's depth (the contrast test) and diameter
    are read there (everywhere when not given).
    """
    from skimage.measure import label
    from skimage.morphology import skeletonize

    spacing = float(np.sqrt(abs(np.linalg.det(affine2d[:2, :2]))))
    profile_diameter = image is not None
    image = 1.0 - segmentation.astype(np.float32) if image is None else np.asarray(image, np.float32)
    slice_px = slice_mm / spacing if slice_mm else None
    slices = SlabSlices(np.asarray(slab, np.float32), slice_px) if slab is not None and profile_diameter else None
    components = label(segmentation, connectivity=2)
    skeleton = skeletonize(segmentation) & (components > 0)
    labels = np.zeros(segmentation.shape, np.int32)
    veins: list[Vein] = []
    coords, all_branches = skeleton_branches(skeleton)  # coords: pixel (i, j) per skeleton node
    by_component: dict[int, list[np.ndarray]] = {int(c): [] for c in components[tuple(coords.T)]}  # raster order
    for branch in all_branches:
        by_component[int(components[tuple(coords[branch[0]])])].append(branch)

    def world(ij: np.ndarray) -> np.ndarray:
        return np.asarray(ij, float) @ affine2d[:2, :2].T + affine2d[:2, 2]

    measured: list[_Measured] = []
    for component, branches in by_component.items():
        if not branches:
            continue
        trunk_pixels, total = _trunk_and_total(branches, coords, world)
        pixels = np.argwhere(components == component)
        area = len(pixels) * spacing**2
        diameter_area = area / total if total > 0 else float("nan")
        width_px = diameter_area / spacing if np.isfinite(diameter_area) else 1.0
        refined = refine(image, trunk_pixels, width_px, noise, tube_axis=profile_diameter, slab=slices, found=found)
        if profile_diameter and not np.isfinite(refined.diameter_px):  # no tube fitted
            continue
        if noise is not None and profile_diameter and not refined.depth >= MIN_CONTRAST_TO_NOISE * noise:
            continue
        centreline = world(refined.centreline)
        length = path_length(centreline)
        if length >= min_length_mm:
            measured.append(
                _Measured(component, len(branches), pixels, area, total, diameter_area, refined, centreline, length)
            )
    # the image's own darkness, from the components shaped like tubes on the segmentation
    darkness = image_darkness([m.refined for m in measured if m.length_mm >= MIN_ELONGATION * m.diameter_area_mm])
    for m in measured:
        diameter = m.diameter_area_mm
        if profile_diameter:
            diameter = with_image_darkness(m.refined.diameter_px, m.refined.darkness, darkness) * spacing
            if not np.isfinite(diameter):  # a collapsed fit and no other vein's darkness to read it with
                diameter = m.diameter_area_mm
        if m.length_mm < MIN_ELONGATION * elongation_width(m.diameter_area_mm, diameter, spacing):
            continue
        centreline = m.centreline
        distance = float(np.linalg.norm(centreline[-1] - centreline[0]))
        centroid = world(m.pixels.mean(axis=0))
        tortuosity = m.length_mm / distance if distance > 0 else float("inf")
        vein_id = len(veins) + 1
        labels[components == m.component] = vein_id
        veins.append(
            Vein(
                vein_id,
                "right" if side_of(centroid[None])[0] > 0 else "left",
                m.length_mm,
                m.total_length_mm,
                distance,
                tortuosity,
                tortuosity - 1.0,
                m.area_mm2,
                diameter,
                m.diameter_area_mm,
                m.branches,
                tuple(map(float, centreline[0])),
                tuple(map(float, centreline[-1])),
                tuple(map(float, centroid)),
                [tuple(map(float, p)) for p in centreline],
            )
        )
    return labels, veins

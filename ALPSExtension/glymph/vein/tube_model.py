"""A vein's centreline fitted as the axis of a tube rendered onto the image (2D, pixel units).

Where a vein bends more tightly than about its own diameter, the darkest line of its image is
not its axis: the two sides of the bend darken the pixels on its inside together, so any centre
read from the image's intensity (profile dips, ridges, skeletons) cuts the bend short and a
wiggly vein comes out straighter than it is. Here the image is explained instead: a tube of
radius r along a smooth curve darkens each pixel by its half-chord sqrt(r^2 - d^2) at distance d
from the axis (the path a line of sight takes through it, as in a MinIP), averaged over
``SUBSAMPLES`` x ``SUBSAMPLES`` points of the pixel, on a planar background. The curve is the
starting centreline moved along its normals by offsets at control points every
``CONTROL_SPACING_PX`` (a cubic spline between them); offsets, background, depth and radius are
fitted by least squares to the pixels within the tube's radius plus ``BAND_PX`` of the curve,
with an analytic Jacobian, and a weak penalty on the offsets' second differences (a Gaussian
prior of ``SMOOTHNESS_PX`` pixels, scaled by the image's noise) keeps them from following noise.

No library fits a 2D tube model to an image (VMTK fits surfaces in 3D), so it is written here.
"""

from __future__ import annotations

import numpy as np

SUBSAMPLES = 3  # per pixel axis
CONTROL_SPACING_PX = 2.0
BAND_PX = 2.5
MAX_OFFSET_PX = 3.0
SMOOTHNESS_PX = 0.5  # prior sd of the offsets' second differences between control points
DENSE_STEP_PX = 0.1  # the curve's sampling for distances
MAX_EVALUATIONS = 40
PINNED_PX = 1e-6  # the end control points' offsets: where the vein fades, the model has nothing to hold on to


def spline_basis(knots: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(at), len(knots)) matrix B such that B @ values is the cubic spline (not-a-knot) through
    (knots, values) evaluated at ``at``: a spline is linear in the values it interpolates."""
    from scipy.interpolate import CubicSpline

    return CubicSpline(knots, np.eye(len(knots)))(at)


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative length along a polyline (N,) from its first point, in its points' units."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def fit_tube_axis(
    image: np.ndarray, path: np.ndarray, normals: np.ndarray, radius_px: float, noise: float | None = None
) -> tuple[np.ndarray, float] | None:
    """The tube model's axis (points every ``DENSE_STEP_PX`` along it, pixel coordinates) and radius
    (pixels) fitted to a dark vein on ``image`` (any intensity scale), starting from its centreline
    ``path`` (M, 2), the path's unit ``normals`` (M, 2) and the radius; ``noise``: the image's noise
    sd (weighs the smoothness prior). None when the vein is too short for control points or the
    fit fails."""
    from scipy.optimize import least_squares
    from scipy.spatial import cKDTree

    path = np.asarray(path, float)
    arc = arc_length(path)
    if len(path) < 2 or arc[-1] < 3 * CONTROL_SPACING_PX or not np.isfinite(radius_px):
        return None
    knots = np.linspace(0.0, arc[-1], max(int(np.ceil(arc[-1] / CONTROL_SPACING_PX)) + 1, 4))
    dense_arc = np.arange(0.0, arc[-1] + 1e-9, DENSE_STEP_PX)
    dense_path = np.column_stack([np.interp(dense_arc, arc, path[:, k]) for k in range(2)])
    dense_normals = np.column_stack([np.interp(dense_arc, arc, n) for n in np.asarray(normals, float).T])
    dense_normals /= np.maximum(np.linalg.norm(dense_normals, axis=1, keepdims=True), 1e-12)
    basis = spline_basis(knots, dense_arc)  # (D, K)

    band = radius_px + BAND_PX
    lo = np.maximum(np.floor(path.min(0) - band - MAX_OFFSET_PX).astype(int), 0)
    hi = np.minimum(np.ceil(path.max(0) + band + MAX_OFFSET_PX).astype(int), np.array(image.shape) - 1)
    grid = np.stack(np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
    pixels = grid.reshape(-1, 2)
    distance, _ = cKDTree(dense_path).query(pixels)
    pixels = pixels[distance <= band]
    if len(pixels) < 4 * len(knots):
        return None
    values = image[pixels[:, 0], pixels[:, 1]].astype(float)
    offsets = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    corners = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    points = (pixels[:, None, :] + corners[None]).reshape(-1, 2)
    centred = pixels - pixels.mean(axis=0)
    n_sub, n_knots = len(corners), len(knots)
    prior_weight = (noise if noise and noise > 0 else 0.0) / SMOOTHNESS_PX
    second = np.diff(np.eye(n_knots), 2, axis=0)  # (K-2, K)

    def render(x: np.ndarray):
        shift, (b0, bi, bj, depth, radius) = x[:n_knots], x[n_knots:]
        curve = dense_path + (basis @ shift)[:, None] * dense_normals
        d, nearest = cKDTree(curve).query(points)
        chord = np.sqrt(np.clip(radius**2 - d**2, 0.0, None))
        model = b0 + bi * centred[:, 0] + bj * centred[:, 1] - depth * chord.reshape(-1, n_sub).mean(axis=1)
        return model, curve, d, nearest, chord

    def residual(x: np.ndarray) -> np.ndarray:
        model, *_ = render(x)
        return np.concatenate([model - values, prior_weight * (second @ x[:n_knots])])

    def jacobian(x: np.ndarray) -> np.ndarray:
        _, curve, d, nearest, chord = render(x)
        depth, radius = x[-2], x[-1]
        inside = chord > 1e-9
        # d chord / d d = -d / chord inside the tube; d d / d shift_k = -(p - c) / d . n * B_k
        along = np.where(inside, -d / np.where(inside, chord, 1.0), 0.0)
        unit = (points - curve[nearest]) / np.maximum(d, 1e-9)[:, None]
        towards = -(unit * dense_normals[nearest]).sum(axis=1)
        per_sub = (along * towards)[:, None] * basis[nearest]  # (P * S, K)
        j = np.zeros((len(pixels) + n_knots - 2, n_knots + 5))
        j[: len(pixels), :n_knots] = -depth * per_sub.reshape(len(pixels), n_sub, n_knots).mean(axis=1)
        j[: len(pixels), n_knots] = 1.0
        j[: len(pixels), n_knots + 1] = centred[:, 0]
        j[: len(pixels), n_knots + 2] = centred[:, 1]
        j[: len(pixels), n_knots + 3] = -chord.reshape(-1, n_sub).mean(axis=1)
        j[: len(pixels), n_knots + 4] = -depth * np.where(inside, radius / np.where(inside, chord, 1.0), 0.0).reshape(
            -1, n_sub
        ).mean(axis=1)
        j[len(pixels) :, :n_knots] = prior_weight * second
        return j

    outside = distance[distance <= band] > radius_px + 1.0
    background = float(np.median(values[outside])) if outside.any() else float(np.median(values))
    depth = max(background - float(np.percentile(values, 5)), 1e-6) / max(radius_px, 0.3)
    x0 = np.concatenate([np.zeros(n_knots), [background, 0.0, 0.0, depth, radius_px]])
    lower = np.concatenate([np.full(n_knots, -MAX_OFFSET_PX), [-np.inf, -np.inf, -np.inf, 0.0, 0.2]])
    upper = np.concatenate([np.full(n_knots, MAX_OFFSET_PX), [np.inf, np.inf, np.inf, np.inf, 8.0]])
    lower[[0, n_knots - 1]], upper[[0, n_knots - 1]] = -PINNED_PX, PINNED_PX  # the ends stay put
    try:
        fit = least_squares(
            residual, np.clip(x0, lower, upper), jac=jacobian, bounds=(lower, upper), max_nfev=MAX_EVALUATIONS
        )
    except (ValueError, np.linalg.LinAlgError):
        return None
    if fit.status < 0:
        return None
    _, curve, *_ = render(fit.x)
    return curve, float(fit.x[-1])

"""The mid-sagittal line of an axial image, found from left-right symmetry.

The line maximises the correlation between the image (brain-masked, smoothed) and its mirror
image across the line, searched over angles within +-20 degrees of the A-P axis (1-degree steps,
refined to 0.25) and offsets within +-25 mm of the brain's centroid (pixel steps, refined by a
parabola). This follows the anatomy, never the middle column of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANGLES_DEG = np.arange(-20.0, 20.01, 1.0)
OFFSET_MM = 25.0


@dataclass(frozen=True)
class Midline:
    """A line in the axial plane: through ``point`` (RAS x, y mm), along ``direction`` (unit, pointing anterior)."""

    point: tuple[float, float]
    direction: tuple[float, float]

    @property
    def normal(self) -> np.ndarray:
        """Unit normal pointing to the subject's right (+x side)."""
        dx, dy = self.direction
        return np.array([dy, -dx])

    def side(self, xy: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of points (..., 2) from the line: > 0 on the subject's right."""
        return (np.asarray(xy, float) - np.asarray(self.point)) @ self.normal


def _symmetry(image: np.ndarray, angle_deg: float, spacing: float) -> tuple[float, float]:
    """Best mirror axis (column position, pixels) of ``image`` rotated by ``angle_deg``, and its score.

    Mirroring about an axis maps row i to row 2c - i (rows off the image read zero), so the
    correlation of the image with each mirror image needs only the rows' sums, sums of squares
    and the matrix of their dot products, computed once for all offsets."""
    from scipy.ndimage import rotate

    rotated = rotate(image, angle_deg, reshape=False, order=1, mode="constant").astype(np.float64)
    rows = rotated.shape[0]
    centre = (rows - 1) / 2
    reach = int(OFFSET_MM / spacing)
    n = rotated.size
    row_sum, row_square = rotated.sum(axis=1), np.einsum("ij,ij->i", rotated, rotated)
    gram = rotated @ rotated.T
    a_mean = row_sum.sum() / n
    a_spread = np.sqrt(max(row_square.sum() - n * a_mean**2, 0.0))
    shifts = np.arange(-reach, reach + 1)
    source = np.round(2 * (centre + shifts[:, None] / 2.0) - np.arange(rows)).astype(int)  # (shifts, rows)
    valid = (source >= 0) & (source < rows)
    clipped = np.clip(source, 0, rows - 1)
    b_mean = np.where(valid, row_sum[clipped], 0.0).sum(axis=1) / n
    b_square = np.where(valid, row_square[clipped], 0.0).sum(axis=1)
    cross = np.where(valid, gram[np.arange(rows), clipped], 0.0).sum(axis=1)
    covariance = cross - n * a_mean * b_mean
    b_spread = np.sqrt(np.maximum(b_square - n * b_mean**2, 0.0))
    scores = covariance / (a_spread * b_spread + 1e-12)
    i = int(np.argmax(scores))
    best_shift = float(shifts[i])
    if 0 < i < len(scores) - 1:  # parabolic refinement
        denominator = scores[i - 1] - 2 * scores[i] + scores[i + 1]
        if denominator < 0:
            best_shift += 0.5 * (scores[i - 1] - scores[i + 1]) / denominator
    return float(centre + best_shift / 2.0), float(scores[i])


def find_midline(image: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> Midline:
    """Mid-sagittal line of a 2D axial image (indexed [i, j] along R and A) with its 2D part of
    the RAS affine (pixel -> mm), from left-right symmetry of the brain-masked image."""
    from scipy.ndimage import center_of_mass, gaussian_filter, shift

    spacing = float(abs(affine[0, 0]))
    masked = gaussian_filter(np.where(brain, image, 0.0).astype(np.float32), 1.0 / spacing)
    # centre the brain so that rotations turn about it
    ci, cj = center_of_mass(brain)
    offset = np.array([(masked.shape[0] - 1) / 2 - ci, (masked.shape[1] - 1) / 2 - cj])
    centred = shift(masked, offset, order=1, mode="constant")
    coarse = max(ANGLES_DEG, key=lambda a: _symmetry(centred, a, spacing)[1])
    refined = {a: _symmetry(centred, a, spacing) for a in np.arange(coarse - 1.0, coarse + 1.01, 0.25)}
    fine = max(refined, key=lambda a: refined[a][1])
    column = refined[fine][0]
    # the mirror axis is the column `column` of the image rotated by `fine` degrees about its centre
    theta = np.deg2rad(fine)
    centre = (np.array(centred.shape) - 1) / 2
    # point on the axis in the rotated frame, rotated back to the centred frame, then un-shifted
    p_rot = np.array([column, centre[1]]) - centre
    rotation = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])  # undoes scipy's rotate
    p = rotation @ p_rot + centre - offset
    axis_direction = rotation @ np.array([0.0, 1.0])
    world = affine[:2, :2] @ p + affine[:2, 2]
    direction = affine[:2, :2] @ axis_direction
    direction = direction / np.linalg.norm(direction)
    if direction[1] < 0:
        direction = -direction
    return Midline((float(world[0]), float(world[1])), (float(direction[0]), float(direction[1])))

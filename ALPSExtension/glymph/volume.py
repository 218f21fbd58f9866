"""A 3D or 4D image on a grid placed in the RAS world frame (millimetres)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glymph.errors import GlymphError


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The orthogonal matrix nearest a 3x3 linear map (polar decomposition): its rotation, with
    the map's handedness (determinant -1 for a reflecting map)."""
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt


@dataclass(frozen=True)
class Volume:
    """Voxel data and the 4x4 affine mapping voxel indices (i, j, k) to RAS world mm.

    ``data`` is indexed ``[i, j, k]`` or ``[i, j, k, n]`` for n components or volumes.
    """

    data: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        if self.data.ndim not in (3, 4):
            raise GlymphError(f"expected a 3D or 4D image, got {self.data.ndim} dimensions")
        if self.affine.shape != (4, 4) or not np.all(np.isfinite(self.affine)):
            raise GlymphError("the image orientation (affine) is missing or not finite; fix its header")
        if self.voxel_volume_mm3 < 1e-9:
            raise GlymphError("the image orientation (affine) is singular; fix its header")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (I, J, K)."""
        return tuple(int(n) for n in self.data.shape[:3])  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along i, j, k in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (correct for oblique and sheared grids)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def rotation(self) -> np.ndarray:
        """Orthogonal part of the voxel-to-world matrix: voxel axes as RAS unit columns.

        Its determinant is -1 for left-handed storage (e.g. LAS). For a sheared (non-orthogonal)
        affine this is the nearest orthogonal matrix (polar decomposition).
        """
        return nearest_rotation(self.affine[:3, :3])

    def world_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """RAS mm corners (lowest, highest) of the box that holds every voxel's full extent."""
        corners = np.array(
            [
                [i, j, k]
                for i in (-0.5, self.shape[0] - 0.5)
                for j in (-0.5, self.shape[1] - 0.5)
                for k in (-0.5, self.shape[2] - 0.5)
            ]
        )
        world = self.voxel_to_world(corners)
        return world.min(axis=0), world.max(axis=0)

    def with_data(self, data: np.ndarray) -> Volume:
        """The same grid holding other data (same spatial shape)."""
        if data.shape[:3] != self.shape:
            raise ValueError(f"data shape {data.shape} does not fit grid {self.shape}")
        return Volume(data, self.affine)

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Map (..., 3) voxel coordinates to RAS mm."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """Map (..., 3) RAS mm to (fractional) voxel coordinates."""
        inv = np.linalg.inv(self.affine)
        return np.asarray(xyz, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]

    def voxel_centres(self) -> np.ndarray:
        """RAS mm of every voxel centre, shape (I, J, K, 3)."""
        ijk = np.stack(np.meshgrid(*(np.arange(n) for n in self.shape), indexing="ij"), axis=-1)
        return self.voxel_to_world(ijk)

    def same_grid(self, other: Volume, tol_mm: float = 1e-3) -> bool:
        """True when both volumes have the same spatial shape and voxel placement."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=tol_mm))


def check_image(image: Volume, what: str, hint: str = "pass one volume") -> None:
    """Raise GlymphError unless ``image`` (named ``what``: "T1", "SWI") is 3D, finite and not all zero."""
    if image.data.ndim != 3:
        raise GlymphError(f"the {what} must be a 3D image; it has {image.data.ndim} dimensions ({hint})")
    if not np.all(np.isfinite(image.data)):
        raise GlymphError(f"the {what} contains NaN or infinite values")
    if not np.any(image.data):
        raise GlymphError(f"the {what} is all zero")


def mask_on_grid(mask: Volume, grid: Volume, what: str) -> Volume:
    """``mask`` (non-zero = inside) as a boolean volume, after checking that it is a 3D image on the
    voxel grid of ``grid`` (the image it masks, named ``what`` in the error)."""
    if mask.data.ndim != 3 or not mask.same_grid(grid):
        raise GlymphError(
            f"the mask is on another grid than the {what} (shape {mask.shape} vs {grid.shape}, or a different "
            f"position); resample it onto the {what} grid first"
        )
    return Volume(np.asarray(mask.data) > 0, grid.affine)


def axis_codes(affine: np.ndarray) -> str:
    """Nearest anatomical direction of each voxel axis, e.g. 'RAS', 'LAS', 'PSR'."""
    from nibabel.orientations import aff2axcodes

    return "".join(aff2axcodes(affine))


def reoriented(volume: Volume, codes: str) -> Volume:
    """The same image stored with voxel axes ordered and flipped to ``codes`` (e.g. 'RAS').

    Exact: a permutation and flips of the voxel array, with the affine updated so every voxel keeps
    its world position. Oblique grids keep their obliquity (axes go to the nearest direction).
    """
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

    transform = ornt_transform(io_orientation(volume.affine), axcodes2ornt(tuple(codes)))
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return volume
    data = np.ascontiguousarray(apply_orientation(volume.data, transform))
    return Volume(data, volume.affine @ inv_ornt_aff(transform, volume.shape))

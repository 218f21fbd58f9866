"""Smooth non-linear deformations of the template anatomy, with atrophy (enlarged lateral ventricles).

A ``Deformation`` is stored as its backward map: the subject's anatomy at point q (template axes,
mm) is the template anatomy found at ``q + u(q)``. Phantoms are drawn by sampling the template at
``backward(q)`` for every voxel; a known template point p (an ROI centre) lies in the subject at
``forward(p)``, the solution of ``q + u(q) = p``.

``u`` is the sum of

* smooth random bumps: Gaussian radial basis functions with random centres in the brain, widths
  and displacement vectors (the shape variation between heads), and
* atrophy: the lateral ventricles enlarged by pulling template points toward the ventricles' axis
  (the line x = 0, z = ``VENTRICLE_Z`` along y), which pushes the periventricular white matter, the
  corona radiata and the ALPS tracts outward, most strongly near the ventricles.

Every term has a gradient well below 1, so the backward map is invertible (checked on creation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VENTRICLE_Z = 18.0  # MNI z (mm) of the lateral ventricle bodies' axis
VENTRICLE_Y = (-45.0, 25.0)  # MNI y (mm) over which the ventricles (and the atrophy) extend


@dataclass(frozen=True)
class Deformation:
    """Backward displacement ``u`` (mm): bumps (centres (K, 3), widths (K,), vectors (K, 3)) plus
    atrophy (``atrophy_mm``: outward push scale, ``atrophy_width_mm``: its reach from the axis)."""

    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    widths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    atrophy_mm: float = 0.0
    atrophy_width_mm: float = 35.0

    def __post_init__(self) -> None:
        bumps = np.abs(self.vectors).max(initial=0.0) / max(float(np.min(self.widths, initial=np.inf)), 1e-9)
        if bumps * np.exp(-0.5) + self.atrophy_mm / self.atrophy_width_mm >= 0.8:
            raise ValueError("deformation too strong: its backward map would fold")

    def displacement(self, q: np.ndarray) -> np.ndarray:
        """u(q) (M, 3) mm at subject points q (M, 3)."""
        q = np.asarray(q, dtype=np.float64)
        u = np.zeros_like(q)
        for centre, width, vector in zip(self.centres, self.widths, self.vectors, strict=True):
            u += np.exp(-((q - centre) ** 2).sum(1) / (2 * width**2))[:, None] * vector
        if self.atrophy_mm:
            radial = q.copy()
            radial[:, 1] = 0.0
            radial[:, 2] -= VENTRICLE_Z
            y_lo, y_hi = VENTRICLE_Y
            along = np.clip((q[:, 1] - y_lo) / 10.0, 0, 1) * np.clip((y_hi - q[:, 1]) / 10.0, 0, 1)
            falloff = np.exp(-(radial**2).sum(1) / (2 * self.atrophy_width_mm**2))
            u -= (self.atrophy_mm / self.atrophy_width_mm) * (falloff * along)[:, None] * radial
        return u

    def backward(self, q: np.ndarray) -> np.ndarray:
        """Template points (M, 3) whose anatomy the subject shows at q (M, 3)."""
        return np.asarray(q, dtype=np.float64) + self.displacement(q)

    def forward(self, p: np.ndarray, tol_mm: float = 1e-6) -> np.ndarray:
        """Subject points (M, 3) showing the template anatomy at p (M, 3): solves q + u(q) = p."""
        p = np.atleast_2d(np.asarray(p, dtype=np.float64))
        q = p.copy()
        for _ in range(200):  # a contraction: |grad u| < 1
            step = p - self.displacement(q) - q
            q += step
            if np.abs(step).max() < tol_mm:
                break
        return q

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        max_shift_mm: float = 4.0,
        max_atrophy_mm: float = 8.0,
        n_bumps: int = 6,
    ) -> Deformation:
        """A random head: ``n_bumps`` bumps of 25-45 mm width, each moving up to ``max_shift_mm``,
        and atrophy drawn uniformly in [0, ``max_atrophy_mm``]."""
        centres = rng.uniform((-60, -90, -30), (60, 60, 60), (n_bumps, 3))
        widths = rng.uniform(25.0, 45.0, n_bumps)
        directions = rng.normal(size=(n_bumps, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        vectors = directions * rng.uniform(0, max_shift_mm, (n_bumps, 1))
        return cls(centres, widths, vectors, float(rng.uniform(0, max_atrophy_mm)))

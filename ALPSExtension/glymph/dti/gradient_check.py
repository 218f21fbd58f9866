"""Does the gradient table fit the anatomy? A check for flipped or swapped b-vector axes.

After Jeurissen, Leemans and Sijbers (2014), the method of MRtrix3's ``dwigradcheck``: fibres run
along the white-matter bundles, so with the right table streamlines through the principal
directions run long inside the white matter, while a flipped sign or swapped axes turns the
directions across the bundles and the streamlines stop sooner. Each candidate correction (the 6
orders of the three axes times 4 sign changes: none or one axis, since flipping two axes gives the
same tensors as flipping the third) is scored by the mean length of short deterministic
streamlines seeded in the white matter; the table as given should score best. It is called wrong
only when another candidate stands out clearly (see ``DISTINCT_BELOW``): a fibre field with no
relation to the white matter's shape (a phantom's) favours no table and stops nothing.

Candidates are changes of the table in the image's voxel axes as an FSL ``.bvec`` file holds them
(``glymph.dti.gradients.fsl_frame``), where such mistakes are made. No refit is needed to score
them: a table changed by ``W`` (world frame, orthogonal) fits the tensors ``W D W^T``, so its
principal directions are ``W v``. Streamlines are tracked here rather than with dipy's tracking
because all 24 candidates are followed at once, in one vectorised pass of about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from glymph.dti.dwi import DWI
from glymph.dti.gradients import fsl_frame
from glymph.dti.tensor import TensorFit

SEED_FA = 0.3  # streamlines start in voxels of at least this FA ...
STOP_FA = 0.2  # ... and stop on entering one of lower FA,
MAX_ANGLE_DEG = 45.0  # or on turning more than this in one step
STEP_VOXELS = 1.0  # step length, in units of the smallest voxel size
MAX_LENGTH_MM = 40.0  # per direction from the seed
MAX_SEEDS = 2_000
MIN_SEEDS = 500  # fewer white-matter voxels than this: not enough anatomy to judge
# The table as given is called wrong only when one candidate stands out (the runner-up's mean length
# below DISTINCT_BELOW of the best's; benchmarks/gradient_check.py: 0.997 on the fan phantom, whose
# fibres are unrelated to the anatomy) and the table as given reaches below WRONG_BELOW of it (0.71
# with y flipped on the JHU-tract phantom; the tests hold every flip and swap below 0.8).
DISTINCT_BELOW = 0.9
WRONG_BELOW = 0.8
AXES = "xyz"


@dataclass(frozen=True)
class Candidate:
    """A change of the table in FSL voxel axes: ``new[:, a] = sign[a] * old[:, order[a]]``."""

    order: tuple[int, int, int]
    sign: tuple[int, int, int]

    @property
    def matrix(self) -> np.ndarray:
        """3x3 signed permutation C with ``new = C @ old`` for one column vector."""
        c = np.zeros((3, 3))
        for a, (source, s) in enumerate(zip(self.order, self.sign, strict=True)):
            c[a, source] = s
        return c

    @property
    def is_identity(self) -> bool:
        return self.order == (0, 1, 2) and self.sign == (1, 1, 1)

    def describe(self) -> str:
        """E.g. ``"as given"``, ``"flip x"``, ``"swap x and y"``, ``"order z x y, flip y"`` (FSL b-vector rows)."""
        if self.is_identity:
            return "as given"
        parts = []
        moved = [a for a in range(3) if self.order[a] != a]
        if len(moved) == 2:
            parts.append(f"swap {AXES[moved[0]]} and {AXES[moved[1]]}")
        elif moved:
            parts.append("order " + " ".join(AXES[s] for s in self.order))
        flipped = [AXES[a] for a in range(3) if self.sign[a] < 0]
        if flipped:
            parts.append("flip " + flipped[0])
        return ", ".join(parts)

    def apply(self, bvecs_fsl: np.ndarray) -> np.ndarray:
        """The changed table (N, 3) in FSL voxel axes."""
        return bvecs_fsl @ self.matrix.T


CANDIDATES = tuple(
    Candidate(order, sign)
    for order in permutations(range(3))
    for sign in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1))
)
BY_NAME = {c.describe(): c for c in CANDIDATES}  # "flip y" -> its candidate


def changed_table(dwi: DWI, change: Candidate) -> DWI:
    """``dwi`` with its gradient table changed by ``change`` in FSL voxel axes (directions stay RAS)."""
    frame = fsl_frame(dwi.affine)
    return dwi.with_data(dwi.data, bvecs=change.apply(dwi.bvecs @ frame) @ frame.T)


@dataclass(frozen=True)
class GradientCheck:
    """The mean streamline length (mm) of every candidate table, and the verdict."""

    lengths_mm: dict[str, float]  # candidate description -> mean length
    best: Candidate
    seeds: int
    checked: bool  # False when there was too little white matter to judge

    @property
    def as_given_mm(self) -> float:
        return self.lengths_mm["as given"]

    @property
    def ratio(self) -> float:
        """Mean length of the table as given over the best candidate's (1 when it is the best)."""
        best = self.lengths_mm[self.best.describe()]
        return self.as_given_mm / best if best > 0 else 1.0

    @property
    def distinct(self) -> float:
        """Mean length of the runner-up candidate over the best's (near 1: no table stands out)."""
        ranked = sorted(self.lengths_mm.values(), reverse=True)
        return ranked[1] / ranked[0] if ranked[0] > 0 else 1.0

    @property
    def conclusive(self) -> bool:
        """True when one table fits the anatomy clearly better than every other."""
        return self.checked and self.distinct < DISTINCT_BELOW

    @property
    def wrong(self) -> bool:
        """True when another table fits the anatomy clearly better than the one given."""
        return self.conclusive and not self.best.is_identity and self.ratio < WRONG_BELOW

    def describe(self) -> dict:
        ranked = sorted(self.lengths_mm.items(), key=lambda kv: -kv[1])
        return {
            "method": "mean length of short deterministic streamlines per candidate table (after MRtrix3 dwigradcheck)",
            "checked": self.checked,
            "seeds": self.seeds,
            "best": self.best.describe(),
            "runner_up_over_best": round(self.distinct, 3),
            "conclusive": self.conclusive,
            "as_given_over_best": round(self.ratio, 3),
            "distinct_below": DISTINCT_BELOW,
            "wrong_below": WRONG_BELOW,
            "mean_length_mm": {name: round(v, 2) for name, v in ranked[:6]},
        }


def check_gradient_table(fit: TensorFit, affine: np.ndarray, seed: int = 0) -> GradientCheck:
    """Score every candidate table on the fitted tensors (RAS frame) of a grid with ``affine``."""
    fa = fit.fa()
    seeds = np.argwhere(fit.mask & (fa >= SEED_FA))
    names = [c.describe() for c in CANDIDATES]
    if len(seeds) < MIN_SEEDS:
        return GradientCheck(dict.fromkeys(names, 0.0), CANDIDATES[0], len(seeds), False)
    if len(seeds) > MAX_SEEDS:
        seeds = seeds[np.random.default_rng(seed).choice(len(seeds), MAX_SEEDS, replace=False)]
    frame = fsl_frame(affine)
    world = np.stack([frame @ c.matrix @ frame.T for c in CANDIDATES])  # (C, 3, 3)
    lengths = _track_lengths(fit.evecs[..., :, 0], fa >= STOP_FA, affine, seeds, world)
    scores = dict(zip(names, (float(v) for v in lengths), strict=True))
    best = CANDIDATES[int(np.argmax(lengths))]  # the first of equals: ties go to the table as given
    return GradientCheck(scores, best, len(seeds), True)


def _track_lengths(
    principal: np.ndarray, allowed: np.ndarray, affine: np.ndarray, seeds: np.ndarray, world: np.ndarray
) -> np.ndarray:
    """Mean length (mm, both directions summed) of streamlines from ``seeds`` (S, 3 voxel indices)
    through ``principal`` (I, J, K, 3; RAS) changed by each of ``world`` (C, 3, 3)."""
    linear = affine[:3, :3]
    step_mm = STEP_VOXELS * float(np.linalg.norm(linear, axis=0).min())
    n_steps = int(MAX_LENGTH_MM / step_mm)
    to_voxel_step = np.linalg.inv(linear).T * step_mm  # a world direction (row) -> its voxel step
    shape = np.array(allowed.shape)
    cos_max = np.cos(np.radians(MAX_ANGLE_DEG))
    n_changes, n_seeds = len(world), len(seeds)
    along = np.ascontiguousarray(principal).reshape(-1, 3)  # gathers from flat indices are the fastest
    allowed_flat = allowed.ravel()
    # One row per (change, sense, seed): every streamline advances in one vectorised step.
    change = np.repeat(np.arange(n_changes), 2 * n_seeds)
    position = np.tile(seeds.astype(np.float64), (2 * n_changes, 1))
    first = np.einsum("cij,sj->csi", world, principal[tuple(seeds.T)])  # (C, S, 3)
    previous = np.stack([first, -first], axis=1).reshape(-1, 3)
    steps = np.zeros(n_changes)
    for _ in range(n_steps):
        position = position + previous @ to_voxel_step
        voxel = np.rint(position).astype(np.intp)
        inside = np.all((voxel >= 0) & (voxel < shape), axis=1)
        index = np.ravel_multi_index(tuple(voxel.T), allowed.shape, mode="clip")  # rows outside: dropped below
        direction = np.einsum("nij,nj->ni", world[change], along[index])
        cos = np.einsum("ni,ni->n", direction, previous)
        going = inside & allowed_flat[index] & (np.abs(cos) >= cos_max)
        position, change = position[going], change[going]
        previous = direction[going] * np.sign(cos[going])[:, None]
        steps += np.bincount(change, minlength=n_changes)
        if not len(position):
            break
    return steps * step_mm / n_seeds

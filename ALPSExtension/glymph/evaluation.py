"""Segmentation agreement, as the EPVS and thalamus papers and pvs-seg-nnunet report it.

Voxel level: Dice, recall (sensitivity), precision. Surfaces (MONAI's definitions): a surface
voxel is a mask voxel with a face neighbour outside the mask; HD95 is the larger of the two
directed 95th percentiles of the distances (mm) from one surface's voxels to the other surface;
surface Dice at 1 mm is the fraction of both surfaces' voxels within 1 mm of the other surface
(both nan when either mask is empty). By size: lesions of at most ``SMALL_LESION_VOXELS`` voxels
and larger ones, each map's components grouped by their own size: Dice of the two groups' voxels,
and the lesion sensitivity of the reference lesions of each group. Lesion level (26-connected components): a
reference lesion is found when any predicted voxel overlaps it; a predicted lesion is correct
when it overlaps any reference voxel; sensitivity = found / reference lesions, precision =
correct / predicted lesions, F1 their harmonic mean. Volumes: absolute difference and relative
difference (predicted - reference) / reference. Cohorts: Bland-Altman bias (mean of predicted -
reference) and 95 % limits of agreement (bias +- 1.96 sd of the differences).
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glymph.components import label_components
from glymph.errors import GlymphError
from glymph.volume import Volume


@dataclass(frozen=True)
class Agreement:
    """Agreement of one predicted segmentation with its reference."""

    dice: float
    recall: float
    precision: float
    lesion_sensitivity: float
    lesion_precision: float
    lesion_f1: float
    reference_lesions: int
    predicted_lesions: int
    predicted_volume_mm3: float
    reference_volume_mm3: float
    volume_difference_mm3: float
    relative_volume_difference: float
    hd95_mm: float
    surface_dice_1mm: float
    dice_small: float
    dice_large: float
    lesion_sensitivity_small: float
    lesion_sensitivity_large: float
    reference_lesions_small: int
    reference_lesions_large: int

    def as_dict(self) -> dict:
        return asdict(self)


SMALL_LESION_VOXELS = 10  # lesions of at most this many voxels count as small
SURFACE_TOLERANCE_MM = 1.0


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# HD95 and surface Dice by hand on scipy's distance transform: MONAI's versions need PyTorch, which
# `glymph evaluate` does not; the tests check these against MONAI's.
def _surface(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask)


def _surface_distances(a: np.ndarray, b: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """mm from each surface voxel of ``a`` to the nearest surface voxel of ``b``."""
    from scipy import ndimage

    return ndimage.distance_transform_edt(~_surface(b), sampling=spacing)[_surface(a)]


def surface_agreement(
    predicted: np.ndarray, reference: np.ndarray, spacing, tolerance_mm: float = SURFACE_TOLERANCE_MM
) -> tuple[float, float]:
    """(HD95 mm, surface Dice at ``tolerance_mm``) of two boolean masks with voxel ``spacing`` (mm)."""
    if not predicted.any() or not reference.any():
        return float("nan"), float("nan")
    spacing = np.asarray(spacing, float)
    to_reference = _surface_distances(predicted, reference, spacing)
    to_predicted = _surface_distances(reference, predicted, spacing)
    hd95 = max(np.percentile(to_reference, 95), np.percentile(to_predicted, 95))
    within = (to_reference <= tolerance_mm).sum() + (to_predicted <= tolerance_mm).sum()
    return float(hd95), float(within / (to_reference.size + to_predicted.size))


def _by_size(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of a label map's small (<= SMALL_LESION_VOXELS) and larger components."""
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    small = sizes <= SMALL_LESION_VOXELS
    small[0] = False
    return small[labels], (labels > 0) & ~small[labels]


def agreement(predicted: Volume, reference: Volume) -> Agreement:
    """Voxel, lesion and volume agreement of two label maps on the same grid (non-zero = lesion)."""
    if not predicted.same_grid(reference):
        raise GlymphError("the prediction and the reference are on different grids; resample one onto the other first")
    pred = np.asarray(predicted.data) > 0
    ref = np.asarray(reference.data) > 0
    overlap = float(np.logical_and(pred, ref).sum())
    voxel = predicted.voxel_volume_mm3
    ref_labels, n_ref = label_components(ref)
    pred_labels, n_pred = label_components(pred)
    found = np.unique(ref_labels[pred & ref]).size
    correct = np.unique(pred_labels[pred & ref]).size
    sensitivity, precision = _ratio(found, n_ref), _ratio(correct, n_pred)
    f1 = 2 * sensitivity * precision / (sensitivity + precision) if sensitivity + precision > 0 else 0.0
    pred_volume, ref_volume = pred.sum() * voxel, ref.sum() * voxel
    hd95, surface_dice = surface_agreement(pred, ref, predicted.spacing)
    groups = {}
    for name, p, r in zip(("small", "large"), _by_size(pred_labels, n_pred), _by_size(ref_labels, n_ref), strict=True):
        in_group = np.unique(ref_labels[r]).size
        found_in_group = np.unique(ref_labels[r & pred]).size
        groups[name] = (
            _ratio(2 * float((p & r).sum()), p.sum() + r.sum()),
            _ratio(found_in_group, in_group),
            int(in_group),
        )
    return Agreement(
        dice=_ratio(2 * overlap, pred.sum() + ref.sum()) if pred.any() or ref.any() else 1.0,
        recall=_ratio(overlap, ref.sum()),
        precision=_ratio(overlap, pred.sum()),
        lesion_sensitivity=sensitivity,
        lesion_precision=precision,
        lesion_f1=f1,
        reference_lesions=n_ref,
        predicted_lesions=n_pred,
        predicted_volume_mm3=float(pred_volume),
        reference_volume_mm3=float(ref_volume),
        volume_difference_mm3=float(pred_volume - ref_volume),
        relative_volume_difference=_ratio(pred_volume - ref_volume, ref_volume),
        hd95_mm=hd95,
        surface_dice_1mm=surface_dice,
        dice_small=groups["small"][0],
        dice_large=groups["large"][0],
        lesion_sensitivity_small=groups["small"][1],
        lesion_sensitivity_large=groups["large"][1],
        reference_lesions_small=groups["small"][2],
        reference_lesions_large=groups["large"][2],
    )


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman agreement of paired measurements (predicted - reference)."""

    n: int
    bias: float
    sd: float
    lower_limit: float
    upper_limit: float

    def as_dict(self) -> dict:
        return asdict(self)


def bland_altman(predicted: np.ndarray, reference: np.ndarray) -> BlandAltman:
    """Bias and 95 % limits of agreement of paired values."""
    predicted, reference = np.asarray(predicted, float), np.asarray(reference, float)
    if predicted.size < 2:
        raise GlymphError("Bland-Altman needs at least two paired subjects")
    differences = predicted - reference
    bias, sd = float(differences.mean()), float(differences.std(ddof=1))
    return BlandAltman(int(predicted.size), bias, sd, bias - 1.96 * sd, bias + 1.96 * sd)


def intraclass_correlation(ratings: np.ndarray) -> dict[str, float]:
    """Shrout and Fleiss (1979) intra-class correlations of (n targets, k raters) ratings:
    ``icc1`` (one-way random), ``icc2`` (two-way random, absolute agreement: what dALPS reports
    between automatic and manual ROIs) and ``icc3`` (two-way mixed, consistency), single measures.

    Written out because the two-way ANOVA is a few lines and the field's packages for it
    (pingouin, R's irr) would be a dependency for one number.
    """
    x = np.asarray(ratings, dtype=np.float64)
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError("intra-class correlation needs at least 2 targets and 2 raters")
    grand = x.mean()
    between_targets = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    between_raters = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    residual = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand) ** 2).sum() / (
        (n - 1) * (k - 1)
    )
    within_targets = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    return {
        "icc1": (between_targets - within_targets) / (between_targets + (k - 1) * within_targets),
        "icc2": (between_targets - residual)
        / (between_targets + (k - 1) * residual + k * (between_raters - residual) / n),
        "icc3": (between_targets - residual) / (between_targets + (k - 1) * residual),
    }


def bland_altman_plot(
    predicted: np.ndarray,
    reference: np.ndarray,
    result: BlandAltman,
    path: str | os.PathLike,
    what: str = "volume (mm3)",
) -> None:
    """The Bland-Altman plot: difference against mean, bias and limits drawn."""
    from glymph.plotting import pyplot

    plt = pyplot()
    predicted, reference = np.asarray(predicted, float), np.asarray(reference, float)
    means, differences = (predicted + reference) / 2, predicted - reference
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(means, differences, s=16, color="k")
    for value, style, label in (
        (result.bias, "-", "bias"),
        (result.lower_limit, "--", "-1.96 sd"),
        (result.upper_limit, "--", "+1.96 sd"),
    ):
        ax.axhline(value, color="tab:red", ls=style, lw=1)
        ax.annotate(
            f"{label} {value:.3g}",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="tab:red",
        )
    ax.set_xlabel(f"mean of predicted and reference {what}")
    ax.set_ylabel(f"predicted - reference {what}")
    ax.set_title(f"Bland-Altman, n = {result.n}")
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def read_table_column(path: str | os.PathLike, column: str, key: str = "subject") -> dict[str, float]:
    """``{subject: value}`` from a CSV with ``key`` and ``column`` columns."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or column not in rows[0] or key not in rows[0]:
        raise GlymphError(f"{path} needs the columns '{key}' and '{column}'")
    try:
        return {row[key]: float(row[column]) for row in rows}
    except ValueError:
        raise GlymphError(f"{path}: column '{column}' holds a value that is not a number") from None


def paired(predicted: dict[str, float], reference: dict[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Subjects present in both, and their paired values."""
    subjects = sorted(set(predicted) & set(reference))
    if not subjects:
        raise GlymphError("no subject appears in both the prediction and the reference")
    return subjects, np.array([predicted[s] for s in subjects]), np.array([reference[s] for s in subjects])


def image_pairs(predicted_dir: Path, reference_dir: Path) -> list[tuple[str, Path, Path]]:
    """Files with the same name in two folders (NIfTI or NRRD label maps)."""
    from glymph.image_io import is_nifti, is_nrrd, strip_image_suffix

    def images(folder: Path) -> dict[str, Path]:
        return {strip_image_suffix(p): p for p in folder.iterdir() if p.is_file() and (is_nifti(p) or is_nrrd(p))}

    pred, ref = images(predicted_dir), images(reference_dir)
    common = sorted(set(pred) & set(ref))
    if not common:
        raise GlymphError(f"no label map has the same name in {predicted_dir} and {reference_dir}")
    return [(name, pred[name], ref[name]) for name in common]


@dataclass(frozen=True)
class EvaluationReport:
    """Per-subject rows and, for cohorts, the Bland-Altman agreement of ``quantity``."""

    rows: list[dict]
    bland_altman: BlandAltman | None
    predicted: np.ndarray
    reference: np.ndarray
    quantity: str


def evaluate_paths(predicted: Path, reference: Path, column: str = "total_volume_mm3") -> EvaluationReport:
    """Compare two label maps, two folders of same-named label maps, or two CSV tables (``column``)."""
    from glymph.image_io import read_volume

    for path in (predicted, reference):
        if not path.exists():
            raise GlymphError(f"{path} not found (check the path)")
    if predicted.suffix.lower() == ".csv" and reference.suffix.lower() == ".csv":
        subjects, pred, ref = paired(read_table_column(predicted, column), read_table_column(reference, column))
        rows = [
            {"subject": s, f"predicted_{column}": p, f"reference_{column}": r}
            for s, p, r in zip(subjects, pred, ref, strict=True)
        ]
        return EvaluationReport(rows, bland_altman(pred, ref), pred, ref, column)
    if predicted.is_dir() and reference.is_dir():
        pairs = image_pairs(predicted, reference)
    elif predicted.is_file() and reference.is_file():
        pairs = [(predicted.name, predicted, reference)]
    else:
        raise GlymphError("give two label maps, two folders of label maps, or two CSV tables")
    rows = [
        {"subject": name, **agreement(read_volume(p, "prediction"), read_volume(r, "reference")).as_dict()}
        for name, p, r in pairs
    ]
    pred = np.array([row["predicted_volume_mm3"] for row in rows])
    ref = np.array([row["reference_volume_mm3"] for row in rows])
    return EvaluationReport(rows, bland_altman(pred, ref) if len(rows) > 1 else None, pred, ref, "volume (mm3)")

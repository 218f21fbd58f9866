"""ALPS ROI placement: the learned detector against atlas registration, on validation phantoms
drawn with seeds never used in training (training: 1000-1499, its validation: 900000+; here 700000+).

* undeformed heads (random pose up to 20 degrees, voxels 1.5-3 mm, thick slices, 6-100
  directions, SNR 10-60): ROI-centre error, index error, and the intra-class correlation (ICC(2,1),
  absolute agreement) between detector and atlas indices (dALPS: 0.95 against manual placement);
* heads with a smooth non-linear shape and atrophy (ventricles enlarged, corona radiata pushed
  outward), where an affine map misplaces ROIs: on a research protocol (2 mm, 32 directions,
  SNR 40) and on varied scans; the index at the true centres is printed as the floor;
* time: the detector's inference alone, and ``run_alps`` with each placement on one subject.

Errors are measured in template axes (the head's own L-R, A-P, S-I), so "across the tracts" is
the L-R component; the index in the anatomical frame (the truth is set in the head's axes, and
heads are tilted up to 20 degrees). Run: .venv/bin/python benchmarks/roi_detector.py [--subjects N] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from glymph.alps.detector import detect_rois, detected_roi_set
from glymph.alps.pipeline import alps_from_rois, map_rois_to_subject, register_dti
from glymph.alps.rois import LABELS, builtin_roi_set
from glymph.dti import fit_dti
from glymph.errors import GlymphError
from glymph.evaluation import intraclass_correlation
from glymph.phantoms import Deformation, alps_phantom
from glymph.phantoms.roi_detector import Acquisition

SEED0 = 700_000


def subject(seed: int, deformed: bool, standard: bool = False):
    """A validation phantom: (phantom, acquisition). ``standard``: 2 mm voxels, 32 directions, SNR 40
    (a research protocol), so that index errors come from placement rather than the acquisition."""
    rng = np.random.default_rng(seed)
    scan = Acquisition.random(rng, deformed=False)
    if standard:
        scan = Acquisition(scan.pose, scan.deformation, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), 32, 40.0, scan.slab_z_mm)
    deformation = Deformation.random(rng, max_atrophy_mm=0.0) if deformed else None
    if deformation is not None:  # atrophy always present and marked in the deformed set
        deformation = Deformation(
            deformation.centres, deformation.widths, deformation.vectors, float(rng.uniform(4, 8))
        )
    phantom = alps_phantom(
        float(rng.uniform(1.0, 1.9)),
        float(rng.uniform(1.0, 1.9)),
        pose=scan.pose,
        voxel_mm=scan.voxel_mm,
        n_directions=scan.n_directions,
        snr=scan.snr,
        seed=seed,
        grid_rotation_deg=scan.grid_rotation_deg,
        deformation=deformation,
    )
    return phantom, scan


def errors(phantom, rois) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ROI (LABELS order): |L-R error|, total error and |S-I error| (mm), in the head's own axes."""
    truth = phantom.true_rois()
    difference = np.array([np.asarray(rois.centres[label]) - truth[label] for label in LABELS])
    in_head = difference @ phantom.pose.rotation  # R^T d for each row
    return np.abs(in_head[:, 0]), np.linalg.norm(difference, axis=1), np.abs(in_head[:, 2])


def evaluate(seeds: list[int], deformed: bool, model_dir: str | None, standard: bool = False) -> dict[str, list]:
    keys = (
        "lr_atlas",
        "lr_det",
        "all_atlas",
        "all_det",
        "si_atlas",
        "si_det",
        "idx_atlas",
        "idx_det",
        "idx_oracle",
        "truth",
        "t_det",
        "fallback",
    )
    rows: dict[str, list] = {k: [] for k in keys}
    chen = builtin_roi_set("chen2025")
    for seed in seeds:
        try:
            measure(seed, deformed, standard, model_dir, chen, rows)
        except GlymphError as error:  # e.g. an ROI with no usable tensor on a 5 mm, SNR 10 scan
            print(f"  seed {seed}: skipped ({error})", flush=True)
    return rows


def measure(seed: int, deformed: bool, standard: bool, model_dir: str | None, chen, rows: dict[str, list]) -> None:
    """One phantom, both placements; appended to ``rows`` only when every measure succeeds."""
    phantom, _ = subject(seed, deformed, standard)
    dti = fit_dti(phantom.dwi)
    registration = register_dti(dti)
    atlas = map_rois_to_subject(chen, registration)
    started = time.perf_counter()
    detection, _ = detect_rois(dti.tensor, registration.transform, model_dir)
    row: dict[str, object] = {"t_det": time.perf_counter() - started, "fallback": not detection.plausible}
    detector = map_rois_to_subject(detected_roi_set(detection, chen), registration) if detection.plausible else atlas
    truth_rois = chen.mapped(np.array([phantom.true_rois()[k] for k in LABELS]), "subject")
    for name, rois in (("atlas", atlas), ("det", detector), ("oracle", truth_rois)):
        index = alps_from_rois(dti, rois, registration).anatomical
        row[f"idx_{name}"] = (index.alps_L, index.alps_R)
        if name != "oracle":
            row[f"lr_{name}"], row[f"all_{name}"], row[f"si_{name}"] = errors(phantom, rois)
    row["truth"] = (phantom.alps_left, phantom.alps_right)
    for key, value in row.items():
        rows[key].append(value)
    print(
        f"  seed {seed}: L-R error atlas {row['lr_atlas'].max():.2f} detector {row['lr_det'].max():.2f} mm, "  # type: ignore[union-attr]
        f"S-I error detector {row['si_det'].max():.2f} mm; "  # type: ignore[union-attr]
        f"index error atlas {np.abs(np.subtract(row['idx_atlas'], row['truth'])).max():.3f} "
        f"detector {np.abs(np.subtract(row['idx_det'], row['truth'])).max():.3f}"
        + ("  (fallback)" if row["fallback"] else ""),
        flush=True,
    )


def report(name: str, rows: dict[str, list]) -> None:
    truth = np.array(rows["truth"])
    print(f"{name}: {len(truth)} phantoms, detector fell back to the atlas on {sum(rows['fallback'])}")
    for method in ("atlas", "det"):
        lr, total = np.concatenate(rows[f"lr_{method}"]), np.concatenate(rows[f"all_{method}"])
        index_error = np.abs(np.array(rows[f"idx_{method}"]) - truth)
        print(
            f"  {'detector' if method == 'det' else 'atlas   '}: centre error L-R mean {lr.mean():.2f}, max {lr.max():.2f} mm "
            f"({(lr <= 1.5).mean():.0%} within 1.5); overall mean {total.mean():.2f}, max {total.max():.2f} mm "
            f"({(total <= 5).mean():.0%} within 5); index error mean {index_error.mean():.3f}, max {index_error.max():.3f} "
            f"({(index_error <= 0.05).mean():.0%} of hemispheres within 0.05)"
        )
    oracle = np.abs(np.array(rows["idx_oracle"]) - truth)
    print(
        f"  index at the true centres (the floor any placement reaches): error mean {oracle.mean():.3f}, max {oracle.max():.3f}"
    )
    pairs = np.column_stack([np.ravel(rows["idx_det"]), np.ravel(rows["idx_atlas"])])
    print(f"  ICC(2,1) detector vs atlas index: {intraclass_correlation(pairs)['icc2']:.3f}")
    for method in ("det", "atlas"):
        versus_truth = np.column_stack([np.ravel(rows[f"idx_{method}"]), truth.ravel()])
        print(
            f"  ICC(2,1) {'detector' if method == 'det' else 'atlas'} vs truth: {intraclass_correlation(versus_truth)['icc2']:.3f}"
        )
    t = np.array(rows["t_det"])
    print(f"  detector inference: median {np.median(t):.2f} s, max {t.max():.2f} s (first call loads the networks)")


def whole_run_times(model_dir: str | None) -> None:
    from glymph.alps import run_alps

    phantom, _ = subject(SEED0 + 999, deformed=True)
    times = {}
    for placement in ("atlas", "detector", "atlas", "detector"):
        started = time.perf_counter()
        run_alps(phantom.dwi, placement=placement, model_dir=model_dir)
        times[placement] = time.perf_counter() - started  # the second run of each counts
    print(
        f"whole glymph alps on one phantom ({phantom.dwi.volume.shape}): atlas {times['atlas']:.1f} s, "
        f"detector {times['detector']:.1f} s (ratio {times['detector'] / times['atlas']:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=20, help="phantoms per set (default 20)")
    parser.add_argument("--model-dir", help="a trained model folder instead of the shipped one")
    parser.add_argument("--sets", default="undeformed,standard,varied", help="which sets to run (default: all three)")
    args = parser.parse_args()
    import logging

    logging.getLogger("glymph").setLevel(logging.ERROR)
    n, sets = args.subjects, args.sets.split(",")
    if "undeformed" in sets:
        report("undeformed heads, varied scans", evaluate([SEED0 + i for i in range(n)], False, args.model_dir))
    if "standard" in sets:
        seeds = [SEED0 + 500 + i for i in range(n)]
        report(
            "deformed heads with atrophy, 2 mm / 32 directions / SNR 40", evaluate(seeds, True, args.model_dir, True)
        )
    if "varied" in sets:
        seeds = [SEED0 + 1000 + i for i in range(n)]
        report("deformed heads with atrophy, varied scans", evaluate(seeds, True, args.model_dir))
    whole_run_times(args.model_dir)


if __name__ == "__main__":
    main()

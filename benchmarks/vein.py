"""Superficial-vein analysis: time per SWI and accuracy on phantoms, next to a plain baseline.

Phantoms: seeds 2-6 (the thresholds were set on seed 1), 288x313x60 voxels of 0.8x0.8x2 mm,
6 veins on the left and 5 on the right, head turned 6 degrees and shifted. glymph runs its whole
pipeline; the baseline, in the same process, takes the whole-head MinIP at the same level and
keeps `skimage.filters.frangi` (one scale, 1 mm) above the same threshold, measured the same way.
Also times a first run in a fresh process (`glymph vein`: imports, reading and writing included).
Then the morphometry alone, on single tubes (``tortuous_vein_image``): straight, moderately and
strongly tortuous, 0.8-2.5 mm wide, on 0.5, 0.8 and 1.0 mm pixels at SNR 10 and 40: tortuosity
error, and the error of both diameters (profile fit, and the study's area / length).
With ``--learned`` (and ``--model-dir DIR`` for weights other than the shipped ones): the
classical and the learned method side by side on the whole pipeline, on phantoms with straight,
moderately and strongly tortuous veins, on 0.5, 0.8 and 1.0 mm pixels, at SNR 10 and 40 (seeds
201-218, never used in training): Dice, per-hemisphere count error, the per-hemisphere mean
tortuosity and diameter errors (what a study compares), per-vein errors, time per SWI;
``--methods classical`` runs one method only, ``--first-seed 300`` the calibration phantoms instead.
With ``--curving``: the same side by side on 9 phantoms of a second, unlike vein generator
(``glymph.phantoms.curving_swi_phantom``: curvature-driven curves, calibre varying along each vein,
veins crossing the slab obliquely, other contrast; curl 0.3 / 0.6 / 0.9 x 0.5 / 0.8 / 1.0 mm pixels,
SNR 15-40; seeds 701-709): veins glymph was not tuned on.
With ``--slices``: the same side by side on six phantoms of the second generator (seeds 721-726),
each drawn on SWI slices of 1, 2 and 3 mm (the benchmark's other phantoms have 2 mm slices).
With ``--calibrate``: the classical method's hysteresis thresholds (floors and multiples of pure
noise's vesselness) on 18 more such phantoms, seeds 301-318, used for nothing else.
Run: .venv/bin/python benchmarks/vein.py [--learned [--model-dir DIR] [--methods M ...] [--first-seed N] | --curving [--methods M ...] | --slices [--methods M ...] | --calibrate]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from glymph.image_io import write_nifti
from glymph.phantoms import swi_phantom
from glymph.vein import run_vein
from glymph.vein.morphometry import measure_veins

BASELINE_THRESHOLD = 0.10  # the classical method's fixed high threshold before it followed the noise


def score(labels: np.ndarray, veins, phantom) -> dict:
    truth, found = phantom.truth_2d > 0, labels > 0
    pairs = []
    for true in phantom.veins:
        hits = labels[phantom.truth_2d == true.id]
        hits = hits[hits > 0]
        if hits.size:
            pairs.append((true, next(v for v in veins if v.id == np.bincount(hits).argmax())))
    whole = [(t, f) for t, f in pairs if f.length_mm > 0.7 * t.length_mm]
    return {
        "dice": 2 * (truth & found).sum() / max(truth.sum() + found.sum(), 1),
        "found": len(pairs) / len(phantom.veins),
        "count_error": sum(abs(sum(v.hemisphere == h for v in veins) - phantom.count(h)) for h in ("left", "right")),
        "hemisphere_ok": all(t.hemisphere == f.hemisphere for t, f in pairs),
        "length_error": float(np.median([abs(f.length_mm - t.length_mm) / t.length_mm for t, f in whole]))
        if whole
        else float("nan"),
        "diameter_ratio": float(np.median([f.diameter_mm / t.diameter_mm for t, f in whole]))
        if whole
        else float("nan"),
        "area_diameter_ratio": float(np.median([f.diameter_area_mm / t.diameter_mm for t, f in whole]))
        if whole
        else float("nan"),
        "tortuosity_error": float(np.median([abs(f.tortuosity - t.tortuosity) for t, f in whole]))
        if whole
        else float("nan"),
        **hemisphere_errors(veins, phantom),
    }


def hemisphere_errors(veins, phantom) -> dict:
    """Per hemisphere, as a study reads the tables: the largest |count error|, |mean tortuosity
    error| and |mean diameter error| (relative; the profile-fit diameter) of the two hemispheres."""
    counts, tortuosity, diameter = [], [], []
    for h in ("left", "right"):
        found = [v for v in veins if v.hemisphere == h]
        true = [v for v in phantom.veins if v.hemisphere == h]
        counts.append(abs(len(found) - len(true)))
        if found and true:
            tortuosity.append(abs(np.mean([v.tortuosity for v in found]) - np.mean([v.tortuosity for v in true])))
            diameter.append(abs(np.mean([v.diameter_mm for v in found]) / np.mean([v.diameter_mm for v in true]) - 1))
    worst = lambda values: float(max(values)) if values else float("nan")  # noqa: E731
    return {
        "hemisphere_count_error": max(counts),
        "hemisphere_tortuosity_error": worst(tortuosity),
        "hemisphere_diameter_error": worst(diameter),
    }


def baseline(result, phantom) -> dict:
    from skimage.filters import frangi

    k = round(result.minip_volume.world_to_voxel(np.array([0.0, 0.0, result.level_z_mm]))[2])
    raw = result.minip_volume.data[:, :, k]
    normalised = raw / np.median(raw[raw > np.percentile(raw, 50)])
    segmentation = frangi(normalised, sigmas=[1.0 / 0.8], black_ridges=True) > BASELINE_THRESHOLD
    labels, veins = measure_veins(segmentation, result.plane_affine, result.midline.side)
    return score(labels, veins, phantom)


def main() -> None:
    run_vein(swi_phantom(seed=1).swi)  # warm-up: imports, paid once per process
    ours, theirs, times = [], [], []
    for seed in (2, 3, 4, 5, 6):
        phantom = swi_phantom(seed=seed)
        start = time.perf_counter()
        result = run_vein(phantom.swi)
        times.append(time.perf_counter() - start)
        ours.append(score(result.labels, result.veins, phantom))
        angle = np.degrees(np.arctan2(result.midline.direction[0], result.midline.direction[1]))
        ours[-1]["midline_error_deg"] = abs(angle + phantom.yaw_deg)  # the head is turned by yaw: its mid-line by -yaw
        ours[-1]["level_error_mm"] = abs(result.level_z_mm - phantom.level_z_mm)
        theirs.append(baseline(result, phantom))
        o, b = ours[-1], theirs[-1]
        print(
            f"seed {seed}: {times[-1]:4.1f} s  glymph Dice {o['dice']:.2f} found {o['found']:.2f} |count error| {o['count_error']} "
            f"length {o['length_error']:.1%} diameter x{o['diameter_ratio']:.2f} tortuosity +-{o['tortuosity_error']:.3f} hemispheres {'ok' if o['hemisphere_ok'] else 'WRONG'}"
            f"  |  baseline Dice {b['dice']:.2f} |count error| {b['count_error']}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        write_nifti(swi_phantom(seed=2).swi, Path(tmp) / "swi.nii.gz")
        start = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("glymph")), "-q", "vein", f"{tmp}/swi.nii.gz", "--out", f"{tmp}/out"],
            check=True,
            capture_output=True,
        )
        first = time.perf_counter() - start

    def mean(rows, key):
        return float(np.mean([r[key] for r in rows]))

    print(
        f"\nglymph: {np.mean(times):.1f} s per SWI in a running process (goal < 10 s), {first:.1f} s for `glymph vein` in a fresh process (imports, reading and writing included)"
    )
    print(
        f"glymph: Dice {mean(ours, 'dice'):.2f}, veins found {mean(ours, 'found'):.2f}, mean |count error| per subject {mean(ours, 'count_error'):.1f}, "
        f"length error {mean(ours, 'length_error'):.1%}, diameter ratio {mean(ours, 'diameter_ratio'):.2f} "
        f"(area / length {mean(ours, 'area_diameter_ratio'):.2f}), tortuosity error {mean(ours, 'tortuosity_error'):.3f}"
    )
    print(
        f"mid-line angle error at most {max(r['midline_error_deg'] for r in ours):.2f} degrees; "
        f"analysis level at most {max(r['level_error_mm'] for r in ours):.1f} mm from the veins' level"
    )
    print(
        f"baseline (whole-head MinIP, one-scale Frangi): Dice {mean(theirs, 'dice'):.2f}, mean |count error| {mean(theirs, 'count_error'):.1f}"
    )
    morphometry()


SHAPES = {  # name: (wavelength, amplitude) mm
    "straight": (None, 0.0),
    "moderate": (12.0, 2.0),
    "strong": (6.0, 1.4),
}


def morphometry() -> None:
    """Tortuosity and diameter errors of single tubes (see the module docstring)."""
    from glymph.phantoms import tortuous_vein_image

    print("\nmorphometry of single tubes: |tortuosity error|, diameter error (profile fit / area per length)")
    rows = []
    for name, (wavelength, amplitude) in SHAPES.items():
        for pixel in (0.5, 0.8, 1.0):
            for snr in (10.0, 40.0):
                for diameter in (0.8, 1.5, 2.5) if name != "strong" else (0.8, 1.2):
                    truth = tortuous_vein_image(wavelength, amplitude, diameter, pixel, snr, seed=int(pixel * 10 + snr))
                    _, veins = measure_veins(truth.segmentation, truth.affine, lambda p: p[:, 0], image=truth.image)
                    if not veins:
                        print(f"  {name:8s} {pixel} mm pixels SNR {snr:.0f} {diameter} mm: not found")
                        continue
                    vein = max(veins, key=lambda v: v.length_mm)
                    rows.append(
                        (
                            abs(vein.tortuosity - truth.tortuosity),
                            vein.diameter_mm / diameter - 1,
                            vein.diameter_area_mm / diameter - 1,
                        )
                    )
                    print(
                        f"  {name:8s} tortuosity {truth.tortuosity:.2f}  {pixel} mm pixels  SNR {snr:2.0f}  {diameter} mm: "
                        f"{rows[-1][0]:.3f}  {rows[-1][1]:+.0%} / {rows[-1][2]:+.0%}  ({len(veins)} piece(s))"
                    )
    errors = np.array(rows)
    print(
        f"over {len(rows)} tubes: tortuosity error mean {errors[:, 0].mean():.3f}, max {errors[:, 0].max():.3f}; "
        f"diameter |error| profile fit mean {np.abs(errors[:, 1]).mean():.0%}, max {np.abs(errors[:, 1]).max():.0%}; "
        f"area / length mean {np.abs(errors[:, 2]).mean():.0%}, max {np.abs(errors[:, 2]).max():.0%}"
    )


TORTUOSITY = {  # name: VeinShapes amplitude and wavelength ranges (mm)
    "straight": ((0.0, 0.0), (12.0, 25.0)),
    "moderate": ((1.0, 3.0), (12.0, 20.0)),
    "strong": ((2.0, 3.0), (7.0, 10.0)),
}


def varied_phantoms(first_seed: int):
    """(case, phantom) for straight, moderately and strongly tortuous veins, on 0.5, 0.8 and 1.0 mm
    pixels, at SNR 10 and 40: 18 phantoms, seeds ``first_seed`` + 1 ... + 18."""
    from glymph.phantoms import VeinShapes

    seed = first_seed
    for name, (amplitude, wavelength) in TORTUOSITY.items():
        for pixel in (0.5, 0.8, 1.0):
            for snr in (10.0, 40.0):
                seed += 1
                shapes = VeinShapes(amplitude_mm=amplitude, wavelength_mm=wavelength)
                yield (
                    (name, pixel, snr, seed),
                    swi_phantom(voxel_mm=(pixel, pixel, 2.0), noise=0.8 / snr, seed=seed, shapes=shapes),
                )


def within_goals(row: dict) -> bool:
    """Count within 1, mean tortuosity within 0.05 and mean diameter within 15 % in both hemispheres."""
    return (
        row["hemisphere_count_error"] <= 1
        and row["hemisphere_tortuosity_error"] <= 0.05
        and row["hemisphere_diameter_error"] <= 0.15
    )


def summary(selected: list[dict]) -> str:
    """One line of means over whole-pipeline rows (``score``, plus ``time_s`` when timed)."""

    def mean(key: str) -> float:
        return float(np.nanmean([r[key] for r in selected]))

    timed = f"; {mean('time_s'):.1f} s per SWI" if "time_s" in selected[0] else ""
    return (
        f"Dice {mean('dice'):.2f}, found {mean('found'):.2f}, |count error| per hemisphere "
        f"{mean('hemisphere_count_error'):.2f} (max {max(r['hemisphere_count_error'] for r in selected)}), "
        f"mean tortuosity error {mean('hemisphere_tortuosity_error'):.3f}, mean diameter error "
        f"{mean('hemisphere_diameter_error'):.0%} (area / length x{mean('area_diameter_ratio'):.2f}), per-vein "
        f"tortuosity error {mean('tortuosity_error'):.3f}, length {mean('length_error'):.1%}; all three "
        f"within limits (count 1, tortuosity 0.05, diameter 15 %) in {np.mean([within_goals(r) for r in selected]):.0%}"
        f"{timed}"
    )


def calibrate() -> None:
    """The classical method's hysteresis thresholds on seeds 301-318 (never used elsewhere): for each
    candidate (floors, multiples of pure noise's vesselness), the share of phantoms within all three
    goals and the mean errors; the segmentation and morphometry after the MinIP are re-run per
    candidate on the same MinIPs."""
    from glymph.vein import segmentation
    from glymph.vein.segmentation import bridge_gaps

    cases = [(phantom, run_vein(phantom.swi)) for _, phantom in varied_phantoms(300)]
    candidates = [  # (LOW, HIGH, NOISE_LOW, NOISE_HIGH)
        (0.03, 0.10, 0.0, 0.0),  # the former fixed thresholds
        (0.02, 0.04, 0.5, 1.2),
        (0.02, 0.05, 0.5, 1.2),
        (0.025, 0.06, 0.5, 1.2),
        (0.02, 0.05, 0.6, 1.5),
    ]
    defaults = (segmentation.LOW, segmentation.HIGH, segmentation.NOISE_LOW, segmentation.NOISE_HIGH)
    for candidate in candidates:
        segmentation.LOW, segmentation.HIGH, segmentation.NOISE_LOW, segmentation.NOISE_HIGH = candidate
        rows = []
        for phantom, result in cases:
            inputs = result.inputs
            found = segmentation.segment_classical(inputs)
            labels, veins = measure_veins(
                bridge_gaps(found, inputs),
                result.plane_affine,
                result.midline.side,
                image=inputs.minip,
                noise=inputs.noise_sd,
                slab=inputs.slab,
                slice_mm=float(result.minip.spacing[2]),
                found=found,
            )
            rows.append(score(labels, veins, phantom))
        print(
            f"low {candidate[0]} high {candidate[1]} x noise {candidate[2]} / {candidate[3]}: {summary(rows)}",
            flush=True,
        )
    segmentation.LOW, segmentation.HIGH, segmentation.NOISE_LOW, segmentation.NOISE_HIGH = defaults


def curving_phantoms(first_seed: int = 700):
    """(case, phantom) from the second vein generator (``glymph.phantoms.curving_swi_phantom``):
    curl 0.3, 0.6 and 0.9 on 0.5, 0.8 and 1.0 mm pixels, each at SNR 15, 25 or 40: 9 phantoms,
    seeds ``first_seed`` + 1 ... + 9."""
    from glymph.phantoms import curving_swi_phantom

    seed = first_seed
    for i, curl in enumerate((0.3, 0.6, 0.9)):
        for j, pixel in enumerate((0.5, 0.8, 1.0)):
            seed += 1
            snr = (15.0, 25.0, 40.0)[(i + j) % 3]  # a Latin square: each SNR once per curl and per pixel size
            phantom = curving_swi_phantom(voxel_mm=(pixel, pixel, 2.0), noise=0.8 / snr, seed=seed, curl=curl)
            yield (f"curl {curl}", pixel, snr, seed), phantom


def slice_phantoms(first_seed: int = 720):
    """(case, phantom): the second vein generator's six phantoms of seeds ``first_seed`` + 1 ... + 6
    (curl 0.6 / 0.9 / 0.3 / 0.6 / 0.9 / 0.6 on 0.8 / 0.5 / 1.0 / 0.5 / 0.8 / 1.0 mm pixels, SNR 25,
    40, 40, 25, 25, 25), each drawn on 1, 2 and 3 mm slices; the case is named by the slices."""
    from glymph.phantoms import curving_swi_phantom

    plans = ((0.6, 0.8, 25.0), (0.9, 0.5, 40.0), (0.3, 1.0, 40.0), (0.6, 0.5, 25.0), (0.9, 0.8, 25.0), (0.6, 1.0, 25.0))
    for slice_mm in (1.0, 2.0, 3.0):
        for offset, (curl, pixel, snr) in enumerate(plans, start=1):
            seed = first_seed + offset
            phantom = curving_swi_phantom(voxel_mm=(pixel, pixel, slice_mm), noise=0.8 / snr, seed=seed, curl=curl)
            yield (f"{slice_mm:g} mm sl", pixel, snr, seed), phantom


def side_by_side(
    model_dir: str | None, methods: tuple[str, ...] = ("classical", "learned"), first_seed: int = 200, phantoms=None
) -> None:
    """The methods side by side on varied phantoms (see the module docstring; seeds
    ``first_seed`` + 1 ... + 18), or on ``phantoms`` ((case, phantom) pairs) when given."""
    for method in methods:  # warm-up
        run_vein(swi_phantom(seed=1).swi, method=method, model_dir=model_dir)
    rows: dict[str, list[dict]] = {method: [] for method in methods}
    for (name, pixel, snr, seed), phantom in phantoms if phantoms is not None else varied_phantoms(first_seed):
        line = f"{name:8s} {pixel} mm SNR {snr:2.0f} (seed {seed}):"
        for method in rows:
            start = time.perf_counter()
            result = run_vein(phantom.swi, method=method, model_dir=model_dir)
            row = {**score(result.labels, result.veins, phantom), "time_s": time.perf_counter() - start}
            row["case"] = (name, pixel, snr)
            rows[method].append(row)
            line += (
                f"  {method} Dice {row['dice']:.2f} count {row['hemisphere_count_error']}"
                f" tort {row['hemisphere_tortuosity_error']:.3f} diam {row['hemisphere_diameter_error']:.0%}"
            )
        print(line, flush=True)

    for method, selected in rows.items():
        print(f"\n{method}: {summary(selected)}")
        for name in dict.fromkeys(r["case"][0] for r in selected):
            print(f"  {name:8s}: {summary([r for r in selected if r['case'][0] == name])}")
        for pixel in sorted({r["case"][1] for r in selected}):
            print(f"  {pixel} mm   : {summary([r for r in selected if r['case'][1] == pixel])}")
        for snr in sorted({r["case"][2] for r in selected}):
            print(f"  SNR {snr:.0f}   : {summary([r for r in selected if r['case'][2] == snr])}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learned", action="store_true", help="the classical and learned methods side by side")
    parser.add_argument("--model-dir", help="the learned method's weights (default: the shipped ones)")
    parser.add_argument("--calibrate", action="store_true", help="the classical thresholds on seeds 301-318")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=["classical", "learned"],
        default=["classical", "learned"],
        help="with --learned: which",
    )
    parser.add_argument("--first-seed", type=int, default=200, help="with --learned: seeds N+1 ... N+18 (default 200)")
    parser.add_argument(
        "--curving", action="store_true", help="the methods (--methods) on the second vein generator, seeds 701-709"
    )
    parser.add_argument(
        "--slices", action="store_true", help="the methods (--methods) on 1, 2 and 3 mm slices, seeds 721-726"
    )
    arguments = parser.parse_args()
    if arguments.calibrate:
        calibrate()
    elif arguments.slices:
        side_by_side(arguments.model_dir, tuple(arguments.methods), phantoms=slice_phantoms())
    elif arguments.curving:
        side_by_side(arguments.model_dir, tuple(arguments.methods), phantoms=curving_phantoms())
    elif arguments.learned:
        side_by_side(arguments.model_dir, tuple(arguments.methods), arguments.first_seed)
    else:
        main()

"""The cohort's report: ``report.html``, one self-contained file (styles and pictures embedded), and
its outlier flags as ``flags.csv``.

Sections: what ran (done, failed with reasons, timings from ``runs.csv``); per measure, the
distributions and left-against-right plots of the merged tables; outlier flags; per-subject QC
thumbnails, each linked to the full picture in the subject's folder (relative links, so the
report works wherever the output folder is copied).

Outlier flags (thresholds, documented in the README):

* ALPS: index (left, right or mean) outside ``ALPS_RANGE``; an ROI with zero voxels; registration
  brain-overlap Dice below ``MIN_REGISTRATION_DICE`` (glymph refuses below 0.80);
* EPVS: registration Dice as for ALPS; count or total volume extreme for the cohort;
* veins: a hemisphere without veins; count, diameter or tortuosity extreme for the cohort;
* "extreme": robust z-score |x - median| / (1.4826 MAD) above ``ROBUST_Z`` (with 5 subjects or more).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import numpy as np

from glymph.cohort.runner import RECORD
from glymph.cohort.tasks import SUMMARY, Task

ALPS_RANGE = (0.8, 2.5)
MIN_REGISTRATION_DICE = 0.85
ROBUST_Z = 3.5
MAX_THUMBNAILS = 500  # beyond this many subjects, thumbnails of flagged subjects only
QC_PICTURE = {"alps": "qc_alps.png", "epvs": "qc_epvs.png", "vein": "qc_vein.png"}
SIDECAR = {"alps": "alps.json", "epvs": "epvs.json", "vein": "vein.json"}


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _number(value: str | None) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def robust_z(values: np.ndarray) -> np.ndarray:
    """|x - median| / (1.4826 MAD); zeros when the MAD is 0 or fewer than 5 values are finite."""
    finite = values[np.isfinite(values)]
    if finite.size < 5:
        return np.zeros_like(values)
    median = np.median(finite)
    mad = 1.4826 * np.median(np.abs(finite - median))
    return np.zeros_like(values) if mad == 0 else np.abs(values - median) / mad


def _registration_dice(folder: Path, measure: str) -> float | None:
    try:
        registration = json.loads((folder / SIDECAR[measure]).read_text()).get("registration")
    except (OSError, ValueError):
        return None
    return registration.get("brain_dice") if registration else None


def outlier_flags(tasks: list[Task]) -> list[dict[str, str]]:
    """One row per flag: subject, measure, what is unusual."""
    complete = [t for t in tasks if (t.out / RECORD).is_file()]
    flags: list[dict[str, str]] = []

    def flag(task: Task, text: str) -> None:
        flags.append({"subject": task.subject, "measure": task.measure, "flag": text})

    by_measure: dict[str, list[tuple[Task, dict[str, str]]]] = {}
    for task in complete:
        for row in _rows(task.out / SUMMARY[task.measure]):
            by_measure.setdefault(task.measure, []).append((task, row))
        if task.measure in ("alps", "epvs"):
            dice = _registration_dice(task.out, task.measure)
            if dice is not None and dice < MIN_REGISTRATION_DICE:
                flag(task, f"registration brain Dice {dice:.2f} < {MIN_REGISTRATION_DICE}")
    for task, row in by_measure.get("alps", []):
        for key in ("alps_L", "alps_R", "alps"):
            value = _number(row.get(key))
            if not ALPS_RANGE[0] <= value <= ALPS_RANGE[1]:
                flag(task, f"{key} {value:.3f} outside {ALPS_RANGE[0]}-{ALPS_RANGE[1]}")
        for key in ("n_proj_L", "n_proj_R", "n_assoc_L", "n_assoc_R"):
            if _number(row.get(key)) == 0:
                flag(task, f"ROI {key[2:]} holds no voxels")
    for task, row in by_measure.get("vein", []):
        if _number(row.get("count")) == 0:
            flag(task, f"no veins in the {row.get('hemisphere')} hemisphere")
    extreme = {"epvs": ("count", "total_volume_mm3"), "vein": ("count", "diameter_mm", "tortuosity")}
    for measure, keys in extreme.items():
        entries = by_measure.get(measure, [])
        for key in keys:
            values = np.array([_number(row.get(key)) for _, row in entries])
            for (task, row), z in zip(entries, robust_z(values), strict=True):
                if z > ROBUST_Z:
                    side = f" ({row['hemisphere']})" if "hemisphere" in row else ""
                    flag(task, f"{key}{side} {_number(row.get(key)):.3g} is extreme for the cohort (robust z {z:.1f})")
    return flags


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _thumbnail(path: Path, width: int = 240) -> str | None:
    """A small PNG of a QC picture, base64."""
    from glymph.plotting import pyplot

    plt = pyplot()
    try:
        image = plt.imread(path)
    except (OSError, ValueError, SyntaxError):
        return None
    step = max(1, image.shape[1] // width)
    buffer = io.BytesIO()
    plt.imsave(buffer, np.ascontiguousarray(image[::step, ::step]), format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _figures(out_dir: Path) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of the distributions and left-right plots of the merged tables."""
    from glymph.plotting import pyplot

    plt = pyplot()
    figures = []
    alps = _rows(out_dir / "alps.csv")
    if alps:
        left, right = (np.array([_number(r[k]) for r in alps]) for k in ("alps_L", "alps_R"))
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        a.hist([left, right], bins=15, label=["left", "right"], color=["tab:blue", "tab:orange"])
        a.set(xlabel="ALPS index", ylabel="subjects", title="ALPS index")
        a.legend()
        b.scatter(left, right, s=14)
        low, high = np.nanmin([left, right]), np.nanmax([left, right])
        b.plot([low, high], [low, high], "k:", lw=1)
        b.set(xlabel="left", ylabel="right", title="ALPS index, left against right")
        figures.append((f"ALPS, {len(alps)} subjects", _png(fig)))
        plt.close(fig)
    epvs = _rows(out_dir / "epvs.csv")
    if epvs:
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        a.hist([_number(r["count"]) for r in epvs], bins=15)
        a.set(xlabel="EPVS count", ylabel="subjects", title="EPVS count")
        b.hist([_number(r["total_volume_mm3"]) for r in epvs], bins=15)
        b.set(xlabel="EPVS volume (mm3)", title="EPVS total volume")
        figures.append((f"EPVS, {len(epvs)} subjects", _png(fig)))
        plt.close(fig)
    vein = _rows(out_dir / "vein.csv")
    if vein:
        by_subject: dict[str, dict[str, dict[str, str]]] = {}
        for row in vein:
            by_subject.setdefault(row["subject"], {})[row["hemisphere"]] = row
        pairs = [s for s in by_subject.values() if {"left", "right"} <= set(s)]
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for axis, key, label in zip(
            axes, ("count", "diameter_mm", "tortuosity"), ("count", "diameter (mm)", "tortuosity"), strict=True
        ):
            left = np.array([_number(s["left"][key]) for s in pairs])
            right = np.array([_number(s["right"][key]) for s in pairs])
            axis.scatter(left, right, s=14)
            if np.isfinite([*left, *right]).any():
                low, high = np.nanmin([*left, *right]), np.nanmax([*left, *right])
                axis.plot([low, high], [low, high], "k:", lw=1)
            axis.set(xlabel="left", ylabel="right", title=f"vein {label}")
        figures.append((f"Superficial veins, {len(pairs)} subjects, left against right", _png(fig)))
        plt.close(fig)
    return figures


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(out_dir: Path, tasks: list[Task]) -> Path:
    """Write ``out_dir/report.html`` from the merged tables, the subject folders, ``failed.csv`` and
    ``runs.csv``; returns its path."""
    from glymph import __version__
    from glymph.outputs import timestamp, write_table

    out_dir = Path(out_dir)
    flags = outlier_flags(tasks)
    if flags:
        write_table(flags, out_dir / "flags.csv")
    else:
        (out_dir / "flags.csv").unlink(missing_ok=True)
    failed = _rows(out_dir / "failed.csv")
    latest: dict[tuple[str, str], dict[str, str]] = {}
    for row in _rows(out_dir / "runs.csv"):
        if row["status"] == "done":
            latest[(row["subject"], row["measure"])] = row
    seconds = np.array([_number(r["seconds"]) for r in latest.values()])
    complete = [t for t in tasks if (t.out / RECORD).is_file()]
    flagged = {(f["subject"], f["measure"]) for f in flags}
    subjects = sorted({t.subject for t in complete})
    shown = complete if len(subjects) <= MAX_THUMBNAILS else [t for t in complete if (t.subject, t.measure) in flagged]
    thumbnails = []
    for task in sorted(shown, key=lambda t: (t.subject, t.measure)):
        picture = task.out / QC_PICTURE[task.measure]
        encoded = _thumbnail(picture)
        if encoded:
            link = html.escape(picture.relative_to(out_dir).as_posix())
            mark = " class='flagged'" if (task.subject, task.measure) in flagged else ""
            thumbnails.append(
                f"<figure{mark}><a href='{link}'><img src='data:image/png;base64,{encoded}' alt='{link}'></a>"
                f"<figcaption>{html.escape(task.name)}</figcaption></figure>"
            )
    timing = (
        f"{len(latest)} tasks timed: median {np.median(seconds):.1f} s, total {seconds.sum() / 60:.1f} min of work"
        if seconds.size
        else "no timings"
    )
    figures = "".join(
        f"<figure><img src='data:image/png;base64,{png}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, png in _figures(out_dir)
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>glymph cohort report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; font-size: 90%; }}
figure {{ display: inline-block; margin: 4px; vertical-align: top; }}
figure.flagged {{ outline: 3px solid #d62728; }}
figcaption {{ font-size: 85%; text-align: center; }}
</style></head><body>
<h1>glymph cohort report</h1>
<p>{len(subjects)} subjects with results, {len(complete)} complete tasks, {len(failed)} failed or not runnable;
{timing}. glymph {html.escape(__version__)}, {timestamp()}.</p>
<h2>Failed</h2>{_table(failed, ["subject", "measure", "reason"])}
<h2>Distributions</h2>{figures or "<p>no merged tables</p>"}
<h2>Outlier flags</h2>
<p>ALPS index outside {ALPS_RANGE[0]}-{ALPS_RANGE[1]}, an ROI without voxels, registration brain Dice below
{MIN_REGISTRATION_DICE}, a hemisphere without veins, or a robust z-score above {ROBUST_Z} for the cohort.</p>
{_table(flags, ["subject", "measure", "flag"])}
<h2>Quality-control pictures</h2><p>Click a thumbnail for the full picture; flagged ones are framed in red.</p>
{"".join(thumbnails) or "<p>none</p>"}
</body></html>
"""
    path = out_dir / "report.html"
    partial = path.with_name(".report.html.partial")
    partial.write_text(page)
    partial.replace(path)
    return path

"""Which images each subject has: a BIDS dataset, or a CSV list for data that is not BIDS.

BIDS (a lightweight matcher of the BIDS file-name rules, so that glymph needs no pybids; what
it recognises, per ``sub-<label>[/ses-<label>]`` folder):

* diffusion: ``dwi/*_dwi.nii[.gz]`` with ``.bval`` and ``.bvec`` of the same name;
* T1: ``anat/*_T1w.nii[.gz]``; T2: ``anat/*_T2w.nii[.gz]``;
* SWI magnitude: in ``swi/`` or ``anat/``, a file with the ``swi`` suffix (BEP004, e.g.
  ``sub-01_swi.nii.gz`` or ``sub-01_part-mag_swi.nii.gz``), or a ``part-mag`` image whose ``acq-``
  label starts with ``swi`` (e.g. ``sub-01_acq-swi_part-mag_T2starw.nii.gz``); a ``part-phase``
  image is never taken.

A session with two candidates for one image (two runs, two acquisitions) is ambiguous: its
subject is reported with the reason instead of guessing. Derivatives and hidden folders are
skipped. Two subjects with the same ID (a CSV row repeated) are an error.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from glymph.errors import GlymphError

IMAGE = re.compile(r"\.nii(\.gz)?$")
KINDS = ("dwi", "t1w", "t2w", "swi")  # the images a subject can have
CSV_COLUMNS = ("subject", "dwi", "bval", "bvec", "t1w", "t2w", "swi")


@dataclass(frozen=True)
class Subject:
    """One subject (and session): its ID (``sub-01`` or ``sub-01_ses-1``) and image paths."""

    id: str
    folder: Path  # its results' folder in the output: sub-01[/ses-1], or the ID of a listed subject
    images: dict[str, Path] = field(default_factory=dict)  # kind (KINDS) -> path
    bval: Path | None = None
    bvec: Path | None = None
    problems: dict[str, str] = field(default_factory=dict)  # kind -> why it was not taken


def _entities(name: str) -> dict[str, str]:
    stem = IMAGE.sub("", name)
    parts = stem.split("_")
    entities = dict(part.split("-", 1) for part in parts[:-1] if "-" in part)
    entities["suffix"] = parts[-1]
    return entities


def _kind(folder: str, name: str) -> str | None:
    """Which image a BIDS file is (``KINDS``), or None."""
    if not IMAGE.search(name):
        return None
    e = _entities(name)
    suffix, part, acq = e["suffix"], e.get("part", ""), e.get("acq", "").lower()
    if part == "phase":
        return None
    if folder == "dwi" and suffix == "dwi":
        return "dwi"
    if folder == "anat" and suffix in ("T1w", "T2w"):
        return suffix.lower()
    if folder in ("anat", "swi") and (suffix == "swi" or (part == "mag" and acq.startswith("swi"))):
        return "swi"
    return None


def _session(identifier: str, folder: Path, out_folder: Path) -> Subject:
    found: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for datatype in ("dwi", "anat", "swi"):
        if (folder / datatype).is_dir():
            for path in sorted((folder / datatype).iterdir()):
                kind = _kind(datatype, path.name)
                if kind:
                    found[kind].append(path)
    images, problems = {}, {}
    for kind, paths in found.items():
        if len(paths) == 1:
            images[kind] = paths[0]
        elif len(paths) > 1:
            problems[kind] = f"{len(paths)} {kind} images ({', '.join(p.name for p in paths)}); keep one per session"
    bval = bvec = None
    if "dwi" in images:
        stem = IMAGE.sub("", str(images["dwi"]))
        bval, bvec = Path(stem + ".bval"), Path(stem + ".bvec")
        missing = [p.name for p in (bval, bvec) if not p.is_file()]
        if missing:
            problems["dwi"] = f"{images.pop('dwi').name} has no {' or '.join(missing)} beside it"
            bval = bvec = None
    return Subject(identifier, out_folder, images, bval, bvec, problems)


def discover_bids(
    bids_dir: str | os.PathLike, participants: list[str] | None = None, sessions: list[str] | None = None
) -> list[Subject]:
    """The subjects (one per session) of a BIDS dataset, in ID order; ``participants`` and
    ``sessions`` are labels without ``sub-`` / ``ses-`` (or with them)."""
    root = Path(bids_dir)
    if not (root / "dataset_description.json").is_file():
        raise GlymphError(f"{root} is not a BIDS dataset (no dataset_description.json)")
    wanted = {label.removeprefix("sub-") for label in participants or []}
    wanted_sessions = {label.removeprefix("ses-") for label in sessions or []}
    subjects = []
    for folder in sorted(root.glob("sub-*")):
        label = folder.name.removeprefix("sub-")
        if not folder.is_dir() or (wanted and label not in wanted):
            continue
        session_folders = sorted(p for p in folder.glob("ses-*") if p.is_dir())
        if not session_folders:
            if not wanted_sessions:
                subjects.append(_session(folder.name, folder, Path(folder.name)))
            continue
        for session in session_folders:
            if not wanted_sessions or session.name.removeprefix("ses-") in wanted_sessions:
                subjects.append(_session(f"{folder.name}_{session.name}", session, Path(folder.name, session.name)))
    missing = sorted(wanted - {s.id.split("_")[0].removeprefix("sub-") for s in subjects})
    if missing:
        raise GlymphError(f"participant(s) not found in {root}: {', '.join(missing)}")
    if not subjects:
        raise GlymphError(f"no subjects found in {root}" + (" for those sessions" if wanted_sessions else ""))
    return subjects


def _located(value: str | None, folder: Path) -> Path | None:
    """A path from a CSV cell: absolute, or relative to the CSV's folder; None when empty."""
    value = (value or "").strip()
    return None if not value else (Path(value) if Path(value).is_absolute() else folder / value)


def read_subject_list(path: str | os.PathLike) -> list[Subject]:
    """Subjects from a CSV file with a ``subject`` column and any of ``dwi``, ``bval``, ``bvec``,
    ``t1w``, ``t2w``, ``swi`` (paths, relative to the CSV's folder or absolute; empty: none)."""
    path = Path(path)
    if not path.is_file():
        raise GlymphError(f"subject list not found: {path}")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        unknown = [c for c in columns if c not in CSV_COLUMNS]
        if "subject" not in columns or unknown:
            raise GlymphError(
                f"{path}: the columns must be 'subject' and any of {', '.join(CSV_COLUMNS[1:])}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else " (no 'subject' column)")
            )
        rows = list(reader)
    subjects, seen = [], set()
    for number, row in enumerate(rows, start=2):
        identifier = (row.get("subject") or "").strip()
        if not identifier or not re.fullmatch(r"[A-Za-z0-9._-]+", identifier):
            raise GlymphError(
                f"{path}, line {number}: subject ID '{identifier}' must be letters, digits, '.', '_' or '-'"
            )
        if identifier in seen:
            raise GlymphError(f"{path}: subject '{identifier}' appears twice; give each subject one row")
        seen.add(identifier)
        located = {column: _located(row.get(column), path.parent) for column in CSV_COLUMNS[1:]}
        images = {kind: located[kind] for kind in KINDS if located[kind] is not None}
        subjects.append(Subject(identifier, Path(identifier), images, located["bval"], located["bvec"]))
    if not subjects:
        raise GlymphError(f"{path} lists no subjects")
    return subjects

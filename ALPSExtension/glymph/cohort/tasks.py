"""One task per subject and measure: the ``glymph`` command it runs, where its folder goes, and the
protocol that decides whether a finished folder can be kept on a rerun."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from glymph.cohort.discovery import Subject

MEASURES = ("alps", "epvs", "vein")
NEEDS = {"alps": "dwi", "epvs": "t1w", "vein": "swi"}  # the image each measure runs on
SUMMARY = {"alps": "alps.csv", "epvs": "epvs.csv", "vein": "vein.csv"}  # merged across subjects
RESERVED = ("--out", "--subject", "--force", "--bval", "--bvec", "--t2", "--quiet", "-q")  # set by the runner


@dataclass(frozen=True)
class Task:
    """``glymph MEASURE INPUT ... --out OUT --subject SUBJECT OPTIONS`` for one subject."""

    subject: str
    measure: str
    inputs: dict[str, Path]  # the command's input files by role ("dwi", "bval", "bvec", "t1w", "t2w", "swi")
    options: tuple[str, ...]  # the measure's options as the user gave them
    out: Path  # the subject's folder for this measure
    reanalyze: Path | None = None  # an earlier ALPS result folder to reanalyse (`glymph alps reanalyze`)

    def argv(self, out: Path) -> list[str]:
        """The command line (without ``glymph``) writing into ``out``."""
        if self.reanalyze is not None:
            return ["alps", "reanalyze", str(self.reanalyze), "--out", str(out), "--subject", self.subject,
                    "--quiet", *self.options]  # fmt: skip
        extra = {"bval": "--bval", "bvec": "--bvec", "t2w": "--t2"}
        argv = [
            self.measure,
            str(self.inputs[NEEDS[self.measure]]),
            "--out",
            str(out),
            "--subject",
            self.subject,
            "--quiet",
        ]
        for role, flag in extra.items():
            if role in self.inputs:
                argv += [flag, str(self.inputs[role])]
        return [*argv, *self.options]

    @property
    def name(self) -> str:
        return f"{self.subject} {self.measure}"

    def protocol_hash(self, versions: dict[str, str]) -> str:
        """SHA-256 of what makes a result: the measure, its options and the software versions (the
        inputs are checked by their own checksums). A finished folder with another hash is redone."""
        document = {"measure": self.measure, "options": list(self.options), "software": versions}
        if self.reanalyze is not None:
            document["reanalysis_of"] = str(self.reanalyze)
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


# what `glymph alps reanalyze` reads (glymph.alps.files.SAVED_FOR_REANALYSIS; cohort may not import
# glymph.alps, so the names are repeated here and the structure test keeps them equal)
REANALYSIS_INPUTS = ("alps.json", "tensor.nii.gz", "rois.mrk.json")


def reanalysis_task(subject: Subject, options: tuple[str, ...], out_dir: Path, alps_from: Path) -> Task | str:
    """The task reanalysing the subject's ALPS folder in the earlier results ``alps_from``, or why
    there is none."""
    folder = alps_from / subject.folder / "alps"
    missing = [name for name in REANALYSIS_INPUTS if not (folder / name).is_file()]
    if missing:
        return f"no earlier ALPS result in {folder} ({', '.join(missing)} missing)"
    inputs = {name: folder / name for name in REANALYSIS_INPUTS}
    return Task(subject.id, "alps", inputs, options, out_dir / subject.folder / "alps", folder)


def build_tasks(
    subjects: list[Subject],
    measures: tuple[str, ...],
    options: dict[str, tuple[str, ...]],
    out_dir: Path,
    alps_from: Path | None = None,
) -> tuple[list[Task], list[tuple[str, str, str]]]:
    """Tasks for every subject that has the image a measure needs, and (subject, measure, reason)
    for those that cannot run (image missing or ambiguous). With ``alps_from`` (an earlier cohort's
    results) the ALPS tasks reanalyse its subject folders instead of running on the DWI."""
    tasks, unrunnable = [], []
    for subject in subjects:
        for measure in measures:
            if measure == "alps" and alps_from is not None:
                task = reanalysis_task(subject, options.get(measure, ()), out_dir, alps_from)
                if isinstance(task, str):
                    unrunnable.append((subject.id, measure, task))
                else:
                    tasks.append(task)
                continue
            kind = NEEDS[measure]
            if kind not in subject.images:
                reason = subject.problems.get(kind, f"no {kind} image")
                unrunnable.append((subject.id, measure, reason))
                continue
            inputs = {kind: subject.images[kind]}
            if measure == "alps" and subject.bval is not None and subject.bvec is not None:
                inputs |= {"bval": subject.bval, "bvec": subject.bvec}
            if measure == "epvs" and "t2w" in subject.images:
                inputs["t2w"] = subject.images["t2w"]
            tasks.append(
                Task(subject.id, measure, inputs, options.get(measure, ()), out_dir / subject.folder / measure)
            )
    return tasks, unrunnable

"""`glymph bids` and `glymph cohort`: a synthetic BIDS dataset of phantom subjects, one broken on
purpose, run on an embedded Dask cluster: failures isolated, reruns resumed, a killed run leaves
nothing half-written, the group tables merged."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glymph.cli import main
from glymph.cohort import discover_bids, read_subject_list
from glymph.errors import GlymphError
from glymph.image_io import write_nifti
from glymph.phantoms import alps_phantom, swi_phantom, write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))
GOOD = ("01", "02", "03", "04", "05")


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bids(tmp_path_factory) -> Path:
    """Five subjects with a DWI (FSL bval/bvec), an SWI and a T1, and sub-06 whose DWI lacks its
    .bval; sub-03 stores its SWI under the acq-swi/part-mag form, with its phase image beside it;
    sub-05 has no vein in its right hemisphere (an outlier the report must flag)."""
    root = tmp_path_factory.mktemp("bids") / "study"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "phantoms", "BIDSVersion": "1.9.0"}))
    for number, label in enumerate((*GOOD, "06")):
        sub = root / f"sub-{label}"
        (sub / "dwi").mkdir(parents=True)
        (sub / "anat").mkdir()
        phantom = alps_phantom(
            1.2 + 0.1 * number, 1.5 - 0.05 * number, voxel_mm=2.5, n_directions=20, snr=40.0, seed=number
        )
        write_fsl(phantom.dwi, str(sub / "dwi" / f"sub-{label}_dwi.nii.gz"))
        swi = swi_phantom(veins_per_hemisphere=(6, 0) if label == "05" else (6, 5), seed=number).swi
        if label == "03":
            write_nifti(swi, sub / "anat" / f"sub-{label}_acq-swi_part-mag_T2starw.nii.gz")
            write_nifti(swi, sub / "anat" / f"sub-{label}_acq-swi_part-phase_T2starw.nii.gz")
        else:
            write_nifti(swi, sub / "anat" / f"sub-{label}_swi.nii.gz")
        write_nifti(swi, sub / "anat" / f"sub-{label}_T1w.nii.gz")  # discovery only: EPVS is not run here
    (root / "sub-06" / "dwi" / "sub-06_dwi.bval").unlink()
    return root


def test_discovery_finds_each_image_and_names_what_is_wrong(bids, tmp_path):
    subjects = {s.id: s for s in discover_bids(bids)}
    assert sorted(subjects) == [f"sub-{label}" for label in (*GOOD, "06")]
    three = subjects["sub-03"]
    assert three.images["swi"].name == "sub-03_acq-swi_part-mag_T2starw.nii.gz"  # never the phase
    assert three.images["t1w"].name == "sub-03_T1w.nii.gz" and three.bval.name == "sub-03_dwi.bval"
    assert "dwi" not in subjects["sub-06"].images and "no sub-06_dwi.bval" in subjects["sub-06"].problems["dwi"]
    assert [s.id for s in discover_bids(bids, ["02", "sub-04"])] == ["sub-02", "sub-04"]
    with pytest.raises(GlymphError, match=r"participant\(s\) not found.*: 99"):
        discover_bids(bids, ["99"])
    with pytest.raises(GlymphError, match="not a BIDS dataset"):
        discover_bids(tmp_path)
    sessions = tmp_path / "sessions"
    for session in ("1", "2"):
        anat = sessions / "sub-01" / f"ses-{session}" / "anat"
        anat.mkdir(parents=True)
        for run in ("1", "2") if session == "2" else ("1",):
            shutil.copy(subjects["sub-01"].images["swi"], anat / f"sub-01_ses-{session}_run-{run}_swi.nii.gz")
    (sessions / "dataset_description.json").write_text("{}")
    found = discover_bids(sessions)
    assert [(s.id, str(s.folder)) for s in found] == [
        ("sub-01_ses-1", "sub-01/ses-1"),
        ("sub-01_ses-2", "sub-01/ses-2"),
    ]
    assert "2 swi images" in found[1].problems["swi"] and "swi" not in found[1].images


def test_a_subject_list_and_its_errors(bids, tmp_path):
    good = tmp_path / "list.csv"
    good.write_text(f"subject,dwi,swi\nA,{bids}/sub-01/dwi/sub-01_dwi.nii.gz,\nB,,../b.nii.gz\n")
    subjects = read_subject_list(good)
    assert [s.id for s in subjects] == ["A", "B"] and subjects[1].images["swi"] == tmp_path / "../b.nii.gz"
    assert "dwi" not in subjects[1].images and subjects[0].bval is None
    for text, match in (
        ("subject,dwi\nA,x\nA,y\n", "appears twice"),
        ("dwi\nx\n", "no 'subject' column"),
        ("subject,flair\nA,x\n", "unknown: flair"),
        ("subject,dwi\nA B,x\n", "must be letters"),
    ):
        good.write_text(text)
        with pytest.raises(GlymphError, match=match):
            read_subject_list(good)


def test_bad_cohort_options_are_refused_before_any_work(bids, tmp_path, capsys):
    out = tmp_path / "out"
    for argv, message in (
        (["--measures", "alps,flair"], "unknown flair"),
        (["--alps-options", "--out x"], "--out is set by the cohort runner"),
        (["--alps-options", "--frame sideways"], "are not options of `glymph alps`"),
        (["--participant-label", "42"], "not found"),
    ):
        assert main(["bids", str(bids), str(out), "participant", *argv]) == 2
        assert message in capsys.readouterr().err
    assert main(["bids", str(bids), str(bids), "participant"]) == 2
    assert "must not be the BIDS dataset" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def first_run(bids, tmp_path_factory):
    """The whole dataset, ALPS and veins, on two local Dask workers."""
    out = tmp_path_factory.mktemp("derivatives") / "glymph"
    argv = [GLYMPH, "bids", str(bids), str(out), "participant", "--measures", "alps,vein", "--workers", "2"]
    done = subprocess.run([*argv, "--alps-options", "--frame anatomical"], capture_output=True, text=True)
    return out, done, argv


def test_the_good_subjects_are_done_and_the_broken_one_is_named(first_run):
    out, done, _ = first_run
    assert done.returncode == 1, done.stderr  # something failed: documented exit status 1
    failed = rows(out / "failed.csv")
    assert failed == [
        {"subject": "sub-06", "measure": "alps", "reason": "sub-06_dwi.nii.gz has no sub-06_dwi.bval beside it"}
    ]
    for label in GOOD:
        for measure, table in (("alps", "alps.csv"), ("vein", "vein.csv")):
            folder = out / f"sub-{label}" / measure
            assert (folder / table).is_file() and (folder / "cohort.json").is_file(), folder
    assert (out / "sub-06" / "vein" / "vein.csv").is_file() and not (out / "sub-06" / "alps").exists()
    alps = rows(out / "alps.csv")
    assert [r["subject"] for r in alps] == [f"sub-{label}" for label in GOOD]
    assert {r["frame"] for r in alps} == {"anatomical"}
    assert len(rows(out / "vein.csv")) == 2 * 6  # two hemispheres per subject
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "glymph"
    record = json.loads((out / "sub-01" / "alps" / "cohort.json").read_text())
    assert record["command"][:2] == ["glymph", "alps"] and "--frame" in record["command"]
    assert "alps.csv" in record["outputs"] and len(record["inputs"]) == 3
    assert not [p for p in out.rglob(".*") if p.name != ".gitkeep"]  # nothing hidden left behind
    assert "[11/11]" in done.stderr and "FAILED" not in done.stderr


def test_the_report_shows_failures_distributions_flags_and_every_qc_picture(first_run):
    import re

    out, _, _ = first_run
    page = (out / "report.html").read_text()
    assert "sub-06_dwi.nii.gz has no sub-06_dwi.bval beside it" in page
    assert page.count("<figure><img src='data:image/png;base64,") == 2  # ALPS and veins: no EPVS ran
    links = re.findall(r"<a href='([^']+)'><img src='data:image/png;base64,", page)
    assert len(links) == 11 and all((out / link).is_file() for link in links)
    assert "sub-05/vein/qc_vein.png" in links and "<figure class='flagged'><a href='sub-05/vein/qc_vein.png'" in page
    flags = rows(out / "flags.csv")
    assert {"subject": "sub-05", "measure": "vein", "flag": "no veins in the right hemisphere"} in flags
    # Any other flag must be a cohort extreme that the table itself shows: robust z recomputed by hand
    # from vein.csv (all hemisphere rows pooled, as the report does). sub-02's left mean diameter is one:
    # measured 1.00 mm against a true 1.23 (two veins fading out of the slab read thin), z 3.5.
    table = rows(out / "vein.csv")
    for other in (f for f in flags if f["subject"] != "sub-05"):
        found = re.fullmatch(r"(\w+) \((left|right)\) \S+ is extreme for the cohort \(robust z [\d.]+\)", other["flag"])
        assert found and other["measure"] == "vein", other
        values = np.array([float(r[found[1]]) for r in table])
        finite = values[np.isfinite(values)]
        mad = 1.4826 * np.median(np.abs(finite - np.median(finite)))
        row = next(r for r in table if r["subject"] == other["subject"] and r["hemisphere"] == found[2])
        assert abs(float(row[found[1]]) - np.median(finite)) / mad > 3.5, other


def test_robust_z_by_hand():
    from glymph.cohort.report import robust_z

    values = np.array([10.0, 11, 9, 10, 12, 40])  # median 10.5, MAD 1 -> scale 1.4826
    np.testing.assert_allclose(robust_z(values), np.abs(values - 10.5) / 1.4826)
    assert not robust_z(np.array([1.0, 2, 40])).any()  # too few subjects to call anything extreme


def test_a_rerun_keeps_what_is_complete_and_redoes_what_changed(first_run):
    out, _, argv = first_run
    options = ["--alps-options", "--frame anatomical"]
    dry = subprocess.run([*argv, *options, "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0 and dry.stdout.count("skip ") == 11 and "cannot run sub-06 alps" in dry.stdout
    damaged = out / "sub-02" / "alps" / "alps.csv"
    damaged.write_text(damaged.read_text().replace("sub-02", "sub-2"))
    dry = subprocess.run([*argv, *options, "--dry-run"], capture_output=True, text=True)
    assert "run  sub-02 alps" in dry.stdout and dry.stdout.count("skip ") == 10
    changed = subprocess.run([*argv, "--dry-run"], capture_output=True, text=True)  # image frame now
    assert changed.stdout.count("run  ") == 5 and "run  sub-01 alps" in changed.stdout
    again = subprocess.run([*argv, *options], capture_output=True, text=True)
    assert again.returncode == 1 and "1 done, 10 kept" in again.stdout
    assert [r["subject"] for r in rows(out / "alps.csv")] == [f"sub-{label}" for label in GOOD]
    history = rows(out / "runs.csv")
    assert sum(r["status"] == "done" for r in history) == 11 + 1


def test_a_killed_run_loses_only_what_was_in_flight(bids, tmp_path):
    """SIGKILL to the whole process group once the first subject is done; the rerun finishes the
    rest without redoing what had finished, and no partial folder survives."""
    out = tmp_path / "out"
    argv = [GLYMPH, "bids", str(bids), str(out), "participant", "--measures", "alps", "--workers", "2"]
    argv += ["--participant-label", "01", "02", "03", "04", "06"]
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True)
    finished = []
    for line in run.stderr:
        if "done in" in line:
            finished.append(line)
            break
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    time.sleep(1)
    complete = sorted(p.parent.parent.name for p in out.glob("sub-*/alps/cohort.json"))
    assert finished and 1 <= len(complete) < 4
    for folder in out.glob("sub-*/alps"):
        assert (folder / "cohort.json").is_file()  # a visible folder is a finished one
    again = subprocess.run(argv, capture_output=True, text=True)
    assert again.returncode == 1, again.stderr
    assert f"{len(complete)} kept from an earlier run" in again.stdout
    assert sorted(p.parent.parent.name for p in out.glob("sub-*/alps/cohort.json")) == [f"sub-{x}" for x in GOOD[:4]]
    assert not list(out.rglob(".*"))
    for label in complete:  # not computed twice
        assert not any(f"{label} alps: done" in line for line in again.stderr.splitlines())


def test_a_csv_cohort_and_the_group_stage(bids, first_run, tmp_path):
    out, _, _ = first_run
    listing = tmp_path / "subjects.csv"
    listing.write_text(
        "subject,swi\n"
        + "".join(f"s{label},{bids}/sub-{label}/anat/sub-{label}_swi.nii.gz\n" for label in ("01", "02"))
    )
    cohort = tmp_path / "cohort"
    done = subprocess.run(
        [GLYMPH, "cohort", str(listing), str(cohort), "--measures", "vein", "--workers", "1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(r["subject"] for r in rows(cohort / "vein.csv")) == ["s01", "s01", "s02", "s02"]
    assert not (cohort / "failed.csv").exists()
    (out / "alps.csv").unlink()
    group = subprocess.run(
        [GLYMPH, "bids", str(bids), str(out), "group", "--measures", "alps,vein"], capture_output=True, text=True
    )
    assert group.returncode == 0 and "alps.csv (5 rows)" in group.stdout
    assert np.array_equal(sorted(r["subject"] for r in rows(out / "alps.csv")), [f"sub-{label}" for label in GOOD])


def test_a_cohort_reanalysis_of_the_alps_results(bids, first_run, tmp_path, capsys):
    """--alps-from: every subject's ALPS folder of the first run reanalysed with other diameters
    and frame (no DWI read, nothing fitted); the subject whose run failed is named; the index at
    the first run's diameter and frame is the first run's."""
    out, _, _ = first_run
    again = tmp_path / "again"
    argv = ["bids", str(bids), str(again), "participant", "--measures", "alps", "--alps-from", str(out)]
    assert main([*argv, "--alps-options", "--frame sideways"]) == 2
    assert "not options of `glymph alps reanalyze`" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    done = subprocess.run(
        [GLYMPH, *argv, "--workers", "1", "--alps-options", "--roi-diameter 5 7 --frame image"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr  # sub-06 has no earlier result
    failed = rows(again / "failed.csv")
    assert [(r["subject"], r["measure"]) for r in failed] == [("sub-06", "alps")]
    assert "no earlier ALPS result" in failed[0]["reason"]
    merged = rows(again / "alps.csv")
    assert [r["subject"] for r in merged] == [f"sub-{label}" for label in GOOD]
    assert {r["frame"] for r in merged} == {"image"}
    for label in GOOD:
        first = json.loads((out / f"sub-{label}" / "alps" / "alps.json").read_text())["alps"]["image"]
        sidecar = json.loads((again / f"sub-{label}" / "alps" / "alps.json").read_text())
        assert sidecar["alps"]["image"]["alps"] == pytest.approx(first["alps"], rel=1e-6)
        assert [r["diameter_mm"] for r in sidecar["rois"]["diameter_sensitivity"]] == [5.0, 7.0]
    record = json.loads((again / "sub-01" / "alps" / "cohort.json").read_text())
    assert record["command"][:3] == ["glymph", "alps", "reanalyze"]
    rerun = subprocess.run(
        [GLYMPH, *argv, "--workers", "1", "--alps-options", "--roi-diameter 5 7 --frame image"],
        capture_output=True,
        text=True,
    )
    assert "5 kept from an earlier run" in rerun.stdout, rerun.stdout


def test_a_batch_system_gets_one_single_threaded_worker_per_job():
    """--cluster slurm: the job script dask-jobqueue would submit (no batch system runs here)."""
    from conftest import require_module

    require_module("dask_jobqueue")
    from glymph.cohort.runner import batch_cluster

    cluster = batch_cluster("slurm", "6GB", queue="short", walltime="01:00:00")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p short" in script and "#SBATCH --mem=6G" in script and "#SBATCH -t 01:00:00" in script
    assert "--nthreads 1" in script


def test_results_equal_single_subject_runs(bids, first_run, tmp_path):
    """What `glymph bids` wrote for a subject is what `glymph alps` / `glymph vein` write for it alone."""
    import nibabel as nib

    out, _, _ = first_run
    single = tmp_path
    dwi = bids / "sub-01" / "dwi" / "sub-01_dwi.nii.gz"
    swi = bids / "sub-03" / "anat" / "sub-03_acq-swi_part-mag_T2starw.nii.gz"
    for argv in (
        ["alps", dwi, "--out", single / "alps", "--subject", "sub-01", "--frame", "anatomical"],
        ["vein", swi, "--out", single / "vein", "--subject", "sub-03"],
    ):
        done = subprocess.run([GLYMPH, *map(str, argv)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    for subject, measure, tables, images in (
        ("sub-01", "alps", ("alps.csv",), ("tensor.nii.gz", "rois.nii.gz")),
        ("sub-03", "vein", ("vein.csv", "veins.csv"), ("vein_seg.nii.gz", "minip.nii.gz")),
    ):
        for table in tables:
            assert (out / subject / measure / table).read_text() == (single / measure / table).read_text(), table
        for image in images:
            cohort, alone = (
                np.asarray(nib.load(f / image).dataobj) for f in (out / subject / measure, single / measure)
            )
            np.testing.assert_array_equal(cohort, alone)


def test_the_same_cohort_headless_in_slicer_through_the_module_logic(bids, first_run, tmp_path):
    """cohort_batch.py (as Slicer --python-script runs it) writes the same tables as `glymph bids`,
    and `glymph bids` then finds its folders complete."""
    from conftest import ROOT, require_module, run_batch_script

    require_module("slicer")
    out, _, _ = first_run
    folder = tmp_path / "slicer"
    options = ["--measures", "alps,vein", "--alps-options", "--frame anatomical"]
    script = ROOT / "ALPSModule" / "Resources" / "Scripts" / "cohort_batch.py"
    done = run_batch_script(script, "bids", bids, folder, "participant", "--participant-label", "01", "06", *options)
    assert done.returncode == 1, done.stderr  # sub-06 has no .bval
    assert rows(folder / "failed.csv")[0]["subject"] == "sub-06"
    for subject, measure, table in (
        ("sub-01", "alps", "alps.csv"),
        ("sub-01", "vein", "vein.csv"),
        ("sub-06", "vein", "veins.csv"),
    ):
        assert (folder / subject / measure / table).read_text() == (out / subject / measure / table).read_text()
    dry = subprocess.run(
        [
            GLYMPH,
            "bids",
            str(bids),
            str(folder),
            "participant",
            "--participant-label",
            "01",
            "06",
            *options,
            "--dry-run",
        ],
        capture_output=True,
        text=True,
    )
    assert dry.stdout.count("skip ") == 3, dry.stdout
    bad = run_batch_script(script, "bids", bids, folder, "participant", "--measures", "flair")
    assert bad.returncode == 2 and "unknown flair" in bad.stderr and "Traceback" not in bad.stderr


def test_failure_reasons_are_one_line():
    """What failed.csv says for a user error, a crash and a process killed by the system."""
    from glymph.cohort.runner import failure_reason

    stderr = "glymph: fitting tensors ...\nglymph: error: DWI not found: x.nii.gz (check the path)\n"
    assert failure_reason(2, stderr) == "DWI not found: x.nii.gz (check the path)"
    crash = "Traceback (most recent call last):\n  File ...\nMemoryError: cannot allocate\n"
    assert failure_reason(1, crash) == "crashed (status 1): MemoryError: cannot allocate"
    assert failure_reason(-9, "") == "killed by signal 9 (out of memory?)"

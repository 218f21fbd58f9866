"""ROI measures (FA cut, several diameters) and `glymph alps reanalyze`: the index again from a
finished result folder, equal to a fresh run with the same ROIs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from glymph.alps import alps_from_rois
from glymph.alps.markups import read_markups, write_markups
from glymph.alps.pipeline import diameter_sensitivity
from glymph.alps.rois import LABELS, drop_low_fa
from glymph.errors import GlymphError
from glymph.outputs import read_csv

GLYMPH = str(Path(sys.executable).with_name("glymph"))


def glymph(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([GLYMPH, *argv], capture_output=True, text=True)


def index_values(folder: Path) -> dict:
    """alps.csv's row and both frames of alps.json."""
    document = json.loads((folder / "alps.json").read_text())["alps"]
    return {
        "csv": read_csv(folder / "alps.csv", ("subject", "frame"))[0],
        "image": document["image"],
        "anatomical": document["anatomical"],
    }


def test_drop_low_fa_keeps_what_reaches_the_cut_and_refuses_an_empty_roi():
    fa = np.array([[[0.1, 0.25, 0.5, 0.7]]])
    masks = {label: np.array([[[True, True, True, False]]]) for label in LABELS}
    kept = drop_low_fa(masks, fa, 0.25)
    assert kept["proj_L"].tolist() == [[[False, True, True, False]]]
    with pytest.raises(GlymphError, match=r"keeps none of its 3 voxels.*highest FA is 0.50.*--roi-min-fa"):
        drop_low_fa(masks, fa, 0.6)
    with pytest.raises(GlymphError, match=r"\[0, 1\)"):
        drop_low_fa(masks, fa, 1.5)


def test_the_index_holds_for_every_diameter_inside_the_tracts(clean_result):
    """The clean phantom's tracts hold spheres up to 5 mm: the truth at 3.5, 4.5 and 5 mm; a 15 mm
    sphere reaches the other tract and the grey matter, and the table shows the change."""
    table = diameter_sensitivity(clean_result.dti, clean_result.rois, clean_result.registration, (3.5, 4.5, 5.0, 15.0))
    assert [row["diameter_mm"] for row in table] == [3.5, 4.5, 5.0, 15.0]
    for row in table[:3]:
        for frame in ("image", "anatomical"):
            assert row[frame]["alps_L"] == pytest.approx(1.3, rel=1e-4)
            assert row[frame]["alps_R"] == pytest.approx(1.6, rel=1e-4)
    counts = [row["n_voxels"]["proj_L"] for row in table]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert abs(table[3]["image"]["alps_R"] / 1.6 - 1) > 0.05


def test_min_fa_drops_only_low_fa_voxels_and_records_both_counts(clean_result):
    r = clean_result
    fa = r.dti.fit.fa()
    wide = r.rois.mapped(r.rois.array(), "subject")
    wide = type(wide)(wide.centres, 15.0, "subject", wide.name)  # reaches grey matter and CSF (FA 0.04-0.12)
    whole = alps_from_rois(r.dti, wide, r.registration)
    threshold = 0.5
    cut = alps_from_rois(r.dti, wide, r.registration, min_fa=threshold)
    for label in LABELS:
        assert cut.sphere_voxels[label] == whole.roi_masks[label].sum()
        assert np.array_equal(cut.roi_masks[label], whole.roi_masks[label] & (fa >= threshold))
        assert cut.image.rois[label].n_voxels == cut.roi_masks[label].sum()
    assert sum(cut.image.rois[k].n_voxels for k in LABELS) < sum(cut.sphere_voxels.values())
    assert cut.image.rois["assoc_L"].fa > whole.image.rois["assoc_L"].fa


@pytest.fixture(scope="module")
def moved_markups(noisy_alps_run, tmp_path_factory):
    """The run's ROIs with proj_L moved 2 mm anterior and assoc_R 1.5 mm up."""
    _, out, _ = noisy_alps_run
    rois = read_markups(out / "rois.mrk.json", 5.0)
    centres = rois.array()
    centres[LABELS.index("proj_L")] += (0.0, 2.0, 0.0)
    centres[LABELS.index("assoc_R")] += (0.0, 0.0, 1.5)
    path = tmp_path_factory.mktemp("markups") / "moved.mrk.json"
    write_markups(rois.mapped(centres, "subject"), path)
    return path


def test_reanalysis_equals_a_fresh_run_with_the_same_rois(noisy_phantom_files, noisy_alps_run, moved_markups, tmp_path):
    _, (image, _, _) = noisy_phantom_files
    _, out, _ = noisy_alps_run
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    done = glymph("alps", image, "--rois", str(moved_markups), "--frame", "anatomical", "--subject", "sub-01",
                  "--out", str(fresh))  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = glymph("alps", "reanalyze", str(out), "--rois", str(moved_markups), "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert "reanalysed" in done.stdout
    expected, found = index_values(fresh), index_values(again)
    for column in ("alps_L", "alps_R", "alps", "x_proj_L", "z_assoc_R", "n_proj_L", "aligned_assoc_R"):
        assert found["csv"][column] == pytest.approx(expected["csv"][column], rel=1e-5), column
    for frame in ("image", "anatomical"):
        assert found[frame]["alps"] == pytest.approx(expected[frame]["alps"], rel=1e-5)
    assert found["csv"]["alps_L"] != pytest.approx(index_values(out)["csv"]["alps_L"], rel=1e-4)  # the ROIs did move
    sidecar = json.loads((again / "alps.json").read_text())
    assert sidecar["parameters"]["reanalysis_of"] == str(out.resolve())
    assert sidecar["rois"]["placement"] == "manual"
    assert sidecar["dti"] == json.loads((out / "alps.json").read_text())["dti"]  # the fit stays on record
    assert sidecar["original_run"]["parameters"]["frame"] == "anatomical"


def test_reanalysis_with_diameters_fa_cut_frame_and_another_roi_set(noisy_alps_run, tmp_path):
    phantom, out, _ = noisy_alps_run
    again = tmp_path / "again"
    done = glymph("alps", "reanalyze", str(out), "--out", str(again), "--roi-set", "jhu", "--roi-diameter", "4", "5",
                  "7", "--roi-min-fa", "0.3", "--frame", "image", "--subject", "renamed")  # fmt: skip
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((again / "alps.json").read_text())
    rois = sidecar["rois"]
    assert rois["set"] == "jhu" and rois["placement"] == "atlas" and rois["diameter_mm"] == 4.0
    truth = phantom.true_rois("jhu")  # where the jhu centres lie in this scan
    for label in LABELS:
        assert np.linalg.norm(np.subtract(rois["subject_ras_mm"][label], truth[label])) < 2.5, label
    assert [row["diameter_mm"] for row in rois["diameter_sensitivity"]] == [4.0, 5.0, 7.0]
    assert rois["diameter_sensitivity"][0]["image"]["alps"] == pytest.approx(sidecar["alps"]["image"]["alps"])
    for label in LABELS:
        assert rois["voxels_used"][label] <= rois["voxels_in_sphere"][label]
    csv = read_csv(again / "alps.csv", ("subject", "frame"))[0]
    assert csv["frame"] == "image" and csv["subject"] == "renamed"
    # every voxel the index used has FA >= 0.3 (read back from the written maps)
    labels = np.asarray(nib.load(again / "rois.nii.gz").dataobj)
    fa = np.asarray(nib.load(again / "fa.nii.gz").dataobj)
    assert labels.any() and fa[labels > 0].min() >= 0.3 - 1e-6


def test_reanalysis_never_overwrites_without_force_and_rewrites_in_place_with_it(noisy_alps_run, tmp_path):
    import shutil

    _, out, _ = noisy_alps_run
    folder = tmp_path / "alps"
    shutil.copytree(out, folder)
    before = (folder / "alps.csv").read_bytes()
    done = glymph("alps", "reanalyze", str(folder), "--frame", "image")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--force" in done.stderr and (folder / "alps.csv").read_bytes() == before
    done = glymph("alps", "reanalyze", str(folder), "--frame", "image", "--force")
    assert done.returncode == 0, done.stderr
    assert read_csv(folder / "alps.csv", ("subject", "frame"))[0]["frame"] == "image"
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize(
    ("setup", "options", "message"),
    [
        ("missing", [], "is not a folder"),
        ("empty", [], "not a complete ALPS result folder"),
        ("copy", ["--roi-min-fa", "0.995"], "keeps none"),
        ("copy", ["--roi-min-fa", "2"], r"\[0, 1\)"),
        ("copy", ["--roi-diameter", "0"], "positive"),
        ("broken", [], "is not the sidecar"),
    ],
)
def test_bad_reanalysis_requests_are_clear_errors(noisy_alps_run, tmp_path, setup, options, message):
    import shutil

    _, out, _ = noisy_alps_run
    folder = tmp_path / "alps"
    if setup == "empty":
        folder.mkdir()
    elif setup in ("copy", "broken"):
        shutil.copytree(out, folder)
    if setup == "broken":
        (folder / "alps.json").write_text("{}")
    done = glymph("alps", "reanalyze", str(folder), "--out", str(tmp_path / "new"), *options)
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr
    assert not (tmp_path / "new").exists()

"""`glymph epvs` and `glymph evaluate` from the command line: outputs, zero lesions, bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from glymph.cli import main
from glymph.image_io import write_nifti
from glymph.volume import Volume

GLYMPH = str(Path(sys.executable).with_name("glymph"))
EPVS_OUTPUTS = ["epvs.csv", "lesions.csv", "epvs_seg.nii.gz", "regions.nii.gz", "epvs.json", "qc_epvs.png"]


@pytest.fixture(scope="module")
def phantom_files(colin_phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("epvs")
    write_nifti(colin_phantom.t1, folder / "t1.nii.gz")
    write_nifti(colin_phantom.t2, folder / "t2.nii.gz")
    write_nifti(
        colin_phantom.brain_mask.with_data(colin_phantom.brain_mask.data.astype(np.uint8)),
        folder / "mask.nii.gz",
        np.uint8,
    )
    write_nifti(colin_phantom.truth, folder / "truth.nii.gz", np.uint16)
    return folder


@pytest.fixture(scope="module")
def epvs_run(phantom_files):
    """The installed command, automatic brain extraction included."""
    out = phantom_files / "out"
    done = subprocess.run(
        [GLYMPH, "epvs", str(phantom_files / "t1.nii.gz"), "--out", str(out), "--subject", "colin"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return out, done


def test_epvs_writes_every_output(epvs_run, phantom_files, colin_phantom):
    out, done = epvs_run
    assert sorted(p.name for p in out.iterdir()) == sorted(EPVS_OUTPUTS)
    header = (out / "epvs.csv").read_text().splitlines()[0]
    assert header.startswith("subject,count,total_volume_mm3,")
    with open(out / "epvs.csv") as f:
        summary = next(csv.DictReader(f))
    with open(out / "lesions.csv") as f:
        lesions = list(csv.DictReader(f))
    assert summary["subject"] == "colin" and int(summary["count"]) == len(lesions) > 10
    assert float(summary["total_volume_mm3"]) == pytest.approx(sum(float(row["volume_mm3"]) for row in lesions))
    assert all(float(row["length_mm"]) >= 2.0 for row in lesions)
    assert {row["region_name"] for row in lesions} <= {"basal_ganglia", "centrum_semiovale", "midbrain", "other"}
    seg = nib.load(out / "epvs_seg.nii.gz")
    t1 = nib.load(phantom_files / "t1.nii.gz")
    assert seg.shape == t1.shape and np.allclose(seg.affine, t1.affine)
    assert np.asarray(seg.dataobj).max() == len(lesions)
    regions = np.asarray(nib.load(out / "regions.nii.gz").dataobj)
    assert set(np.unique(regions)) == {0, 1, 2, 3}
    aal_bg = colin_phantom.regions.data == 1  # the basal ganglia of the AAL atlas, placed independently
    assert 2 * ((regions == 1) & aal_bg).sum() / ((regions == 1).sum() + aal_bg.sum()) > 0.8
    assert ((regions == 2) & (colin_phantom.regions.data == 2)).sum() / (regions == 2).sum() > 0.95
    sidecar = json.loads((out / "epvs.json").read_text())
    assert sidecar["models"]["brain_extraction"]["name"] == "deepbet"
    assert sidecar["parameters"]["method"] == "learned"  # the default
    assert sidecar["models"]["segmentation"]["name"] == "epvs-unet"
    assert sidecar["summary"]["count"] == len(lesions)
    assert "colin: " in done.stdout
    assert "Warning" not in done.stderr  # glymph's progress only (torch 2.14 warned of deepbet's format)


def test_a_result_folder_reads_back(epvs_run, phantom_files):
    """What a panel loads after the command ran in another process: the tables with their types,
    the label maps on the T1 grid."""
    from glymph.epvs import read_epvs
    from glymph.errors import GlymphError

    out, _ = epvs_run
    folder = read_epvs(out)
    summary, lesions = folder.summary(), folder.lesion_rows()
    with open(out / "epvs.csv") as f:
        written = next(csv.DictReader(f))
    assert summary["subject"] == "colin" and summary["count"] == int(written["count"]) == len(lesions)
    assert all(summary[key] == float(written[key]) for key in written if key not in ("subject", "count"))
    assert isinstance(lesions[0]["id"], int) and isinstance(lesions[0]["region_name"], str)
    assert lesions[0]["volume_mm3"] == pytest.approx(lesions[0]["n_voxels"] * 1.0)  # 1 mm analysis voxels
    seg = np.asarray(nib.load(out / "epvs_seg.nii.gz").dataobj)
    np.testing.assert_array_equal(folder.labels_on_input_grid().data, seg)
    assert np.allclose(folder.regions_on_input_grid().affine, nib.load(phantom_files / "t1.nii.gz").affine, atol=1e-4)
    with pytest.raises(GlymphError, match="not a complete EPVS result folder"):
        read_epvs(phantom_files)


def test_evaluate_a_run_against_the_truth(epvs_run, phantom_files, tmp_path):
    out, _ = epvs_run
    assert (
        main(
            [
                "evaluate",
                str(out / "epvs_seg.nii.gz"),
                str(phantom_files / "truth.nii.gz"),
                "--out",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "e.json").read_text())["rows"][0]
    assert row["dice"] > 0.5 and row["lesion_sensitivity"] > 0.5  # the truth file keeps the < 2 mm lesions too


def test_surface_measures_and_size_groups_against_monai_and_by_construction():
    """HD95 and surface Dice equal MONAI's on random lesions with anisotropic voxels; a large
    lesion found and a small one missed land in their own groups."""
    from conftest import require_module
    from scipy import ndimage

    from glymph.evaluation import agreement, surface_agreement

    torch = require_module("torch")
    metrics = require_module("monai.metrics")
    rng = np.random.default_rng(0)
    spacing = (0.8, 1.0, 2.0)
    for _ in range(3):
        a = ndimage.binary_dilation(rng.random((30, 28, 20)) > 0.995, iterations=2)
        b = ndimage.binary_dilation(rng.random((30, 28, 20)) > 0.995, iterations=2) | (a & (rng.random(a.shape) > 0.3))
        hot = [torch.from_numpy(np.stack([~m, m])[None].astype(np.float32)) for m in (a, b)]
        hd95 = metrics.compute_hausdorff_distance(*hot, percentile=95, spacing=spacing).item()
        surface = metrics.compute_surface_dice(*hot, [1.0], spacing=spacing).item()
        assert surface_agreement(a, b, spacing) == pytest.approx((hd95, surface), rel=1e-5)
    reference = np.zeros((20, 20, 20), np.uint8)
    reference[2:6, 2:6, 2:6] = 1  # large (64 voxels), found
    reference[12, 12, 12:14] = 1  # small (2 voxels), missed
    predicted = np.zeros_like(reference)
    predicted[2:6, 2:6, 3:6] = 1  # 48 of its voxels
    found = agreement(Volume(predicted, np.eye(4)), Volume(reference, np.eye(4)))
    assert (found.reference_lesions_large, found.reference_lesions_small) == (1, 1)
    assert (found.lesion_sensitivity_large, found.lesion_sensitivity_small) == (1.0, 0.0)
    assert found.dice_large == pytest.approx(2 * 48 / (48 + 64)) and found.dice_small == 0.0


def test_evaluate_by_hand_and_cohorts(tmp_path, capsys):
    grid = np.eye(4)
    reference = np.zeros((10, 10, 10), np.uint8)
    predicted = np.zeros_like(reference)
    reference[1:3, 1, 1] = 1  # lesion A, 2 voxels
    reference[6, 6, 6:9] = 1  # lesion B, 3 voxels
    predicted[1, 1, 1] = 1  # hits A with 1 voxel
    predicted[8, 1, 1] = 1  # a false lesion
    for folder, labels in (("pred", predicted), ("ref", reference)):
        (tmp_path / folder).mkdir()
        for subject in ("s1", "s2"):
            write_nifti(Volume(labels, grid), tmp_path / folder / f"{subject}.nii.gz", np.uint8)
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "pred" / "s1.nii.gz"),
                str(tmp_path / "ref" / "s1.nii.gz"),
                "--out",
                str(tmp_path / "one.csv"),
            ]
        )
        == 0
    )
    with open(tmp_path / "one.csv") as f:
        row = next(csv.DictReader(f))
    # overlap 1 voxel: Dice 2*1/(2+5), recall 1/5, precision 1/2; lesions: A found, B missed; 1 of 2 predicted correct
    assert (
        float(row["dice"]) == pytest.approx(2 / 7)
        and float(row["recall"]) == pytest.approx(0.2)
        and float(row["precision"]) == pytest.approx(0.5)
    )
    assert (
        float(row["lesion_sensitivity"]) == 0.5
        and float(row["lesion_precision"]) == 0.5
        and float(row["lesion_f1"]) == 0.5
    )
    assert float(row["relative_volume_difference"]) == pytest.approx((2 - 5) / 5)
    # surfaces (every voxel is surface here): predicted -> reference 0 and 6 mm; reference ->
    # predicted 0, 1, sqrt(54), sqrt(65), sqrt(78) mm; 95th percentiles (linear) 5.7 and 8.678
    assert float(row["hd95_mm"]) == pytest.approx(np.sqrt(65) + 0.8 * (np.sqrt(78) - np.sqrt(65)))
    assert float(row["surface_dice_1mm"]) == pytest.approx((1 + 2) / (2 + 5))
    # every lesion is small (<= 10 voxels): the small group is everything, the large one empty
    assert float(row["dice_small"]) == pytest.approx(2 / 7) and row["dice_large"] == "nan"
    assert float(row["lesion_sensitivity_small"]) == 0.5 and row["lesion_sensitivity_large"] == "nan"
    assert (row["reference_lesions_small"], row["reference_lesions_large"]) == ("2", "0")
    # a cohort of two folders: Bland-Altman of the volumes, with a plot
    assert (
        main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "--out", str(tmp_path / "cohort.json")]) == 0
    )
    cohort = json.loads((tmp_path / "cohort.json").read_text())
    assert cohort["bland_altman"]["n"] == 2 and cohort["bland_altman"]["bias"] == pytest.approx(-3.0)
    assert (tmp_path / "cohort_bland_altman.png").stat().st_size > 1000
    # two CSV tables: differences 1, 3, 5 -> bias 3, sd 2, limits 3 -+ 3.92
    (tmp_path / "a.csv").write_text("subject,total_volume_mm3\ns1,11\ns2,23\ns3,35\n")
    (tmp_path / "b.csv").write_text("subject,total_volume_mm3\ns1,10\ns2,20\ns3,30\ns4,1\n")
    assert main(["evaluate", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 0
    assert "bias 3, limits of agreement -0.92 to 6.92" in capsys.readouterr().out


def expect_error(capsys, argv, message, out: Path | None = None):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("glymph: error: ") and message in err[-1], err
    if out is not None:
        assert not out.exists()


def test_bad_epvs_inputs(phantom_files, tmp_path, capsys):
    t1 = nib.load(phantom_files / "t1.nii.gz")
    out = tmp_path / "out"
    nib.save(nib.Nifti1Image(np.ones((20, 20), np.float32), np.eye(4)), tmp_path / "flat.nii.gz")
    expect_error(
        capsys, ["epvs", str(tmp_path / "flat.nii.gz"), "--out", str(out)], "is a 2D image; a 3D volume is needed", out
    )
    nib.save(nib.Nifti1Image(np.ones((20, 20, 20, 3), np.float32), np.eye(4)), tmp_path / "four.nii.gz")
    expect_error(capsys, ["epvs", str(tmp_path / "four.nii.gz"), "--out", str(out)], "must be a 3D image", out)
    far = t1.affine.copy()
    far[:3, 3] += 500.0
    nib.save(nib.Nifti1Image(np.asarray(t1.dataobj), far), tmp_path / "far_t2.nii.gz")
    expect_error(
        capsys,
        [
            "epvs",
            str(phantom_files / "t1.nii.gz"),
            "--t2",
            str(tmp_path / "far_t2.nii.gz"),
            "--mask",
            str(phantom_files / "mask.nii.gz"),
            "--out",
            str(out),
        ],
        "do not overlap",
        out,
    )
    nib.save(nib.Nifti1Image(np.ones((30, 30, 30), np.uint8), np.eye(4)), tmp_path / "small_mask.nii.gz")
    expect_error(
        capsys,
        ["epvs", str(phantom_files / "t1.nii.gz"), "--mask", str(tmp_path / "small_mask.nii.gz"), "--out", str(out)],
        "another grid",
        out,
    )
    expect_error(
        capsys,
        ["epvs", str(phantom_files / "t1.nii.gz"), "--method", "unet3000", "--out", str(out)],
        "'unet3000' is not available",
        out,
    )
    expect_error(capsys, ["epvs", str(tmp_path / "none.nii.gz"), "--out", str(out)], "T1 not found", out)


def test_an_image_that_is_not_a_head(tmp_path, capsys):
    rng = np.random.default_rng(0)
    cube = np.zeros((180, 200, 180), np.float32)
    cube[30:150, 30:170, 30:150] = 100 + rng.normal(0, 5, (120, 140, 120))
    nib.save(nib.Nifti1Image(cube, np.eye(4)), tmp_path / "cube.nii.gz")
    nib.save(nib.Nifti1Image((cube > 0).astype(np.uint8), np.eye(4)), tmp_path / "cube_mask.nii.gz")
    out = tmp_path / "out"
    expect_error(
        capsys,
        ["epvs", str(tmp_path / "cube.nii.gz"), "--mask", str(tmp_path / "cube_mask.nii.gz"), "--out", str(out)],
        "is a T1-weighted head scan",
        out,
    )
    small = (cube > 0)[:60, :60, :60]
    nib.save(nib.Nifti1Image(cube[:60, :60, :60], np.eye(4)), tmp_path / "small.nii.gz")
    nib.save(nib.Nifti1Image(small.astype(np.uint8), np.eye(4)), tmp_path / "small_mask.nii.gz")
    expect_error(
        capsys,
        ["epvs", str(tmp_path / "small.nii.gz"), "--mask", str(tmp_path / "small_mask.nii.gz"), "--out", str(out)],
        "not an adult brain",
        out,
    )


def test_min_length_and_force_through_the_command_line(epvs_run, phantom_files, colin_result, tmp_path):
    """--min-length-mm 9 (with the mask and the classical method, so the segmentation is the
    session's, whose lesions measure 4.2 to 12.5 mm): exactly those of 9 mm or more stay, the 7.93 mm
    one goes and the 9.25 mm one stays; --force replaces the earlier results in place."""
    copy = tmp_path / "out"
    shutil.copytree(epvs_run[0], copy)
    t1, mask = str(phantom_files / "t1.nii.gz"), str(phantom_files / "mask.nii.gz")
    argv = ["-q", "epvs", t1, "--mask", mask, "--method", "classical", "--min-length-mm", "9"]
    assert main([*argv, "--out", str(copy), "--force"]) == 0
    with open(copy / "lesions.csv") as f:
        lengths = sorted(float(row["length_mm"]) for row in csv.DictReader(f))
    expected = sorted(lesion.length_mm for lesion in colin_result.lesions if lesion.length_mm >= 9.0)
    assert lengths == pytest.approx(expected)
    under = [lesion.length_mm for lesion in colin_result.lesions if lesion.length_mm < 9.0]
    assert max(under) > 7.5 and min(expected) < 9.5  # lesions on both sides of the limit, close to it
    sidecar = json.loads((copy / "epvs.json").read_text())
    assert sidecar["parameters"]["min_length_mm"] == 9.0 and sidecar["inputs"]["mask"]
    assert sorted(p.name for p in copy.iterdir()) == sorted(EPVS_OUTPUTS)


def test_a_failure_while_writing_leaves_earlier_results_intact(epvs_run, colin_result, tmp_path, monkeypatch):
    import glymph.epvs.files
    from glymph.epvs import write_epvs

    copy = tmp_path / "out"
    shutil.copytree(epvs_run[0], copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}

    def broken_figure(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(glymph.epvs.files, "epvs_qc_figure", broken_figure)
    with pytest.raises(RuntimeError, match="disk full"):
        write_epvs(colin_result, copy, force=True)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no half-written folder left beside it


def test_zero_lesions_through_the_command_line(tmp_path):
    """The MNI152 template (smooth, no perivascular spaces): count 0 is a valid result, files written."""
    from glymph.preprocess import isotropic_grid, resample
    from glymph.templates import mni152

    template = mni152()
    grid = isotropic_grid(template.t1, 1.0)
    write_nifti(resample(template.t1.with_data(template.t1.data * 200), grid, order=3), tmp_path / "mni.nii.gz")
    write_nifti(
        resample(template.brain_mask.with_data(template.brain_mask.data.astype(np.uint8)), grid, order=0),
        tmp_path / "mask.nii.gz",
        np.uint8,
    )
    assert (
        main(
            [
                "-q",
                "epvs",
                str(tmp_path / "mni.nii.gz"),
                "--mask",
                str(tmp_path / "mask.nii.gz"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    with open(tmp_path / "out" / "epvs.csv") as f:
        assert next(csv.DictReader(f))["count"] == "0"
    assert (tmp_path / "out" / "lesions.csv").read_text().count("\n") == 1  # header only
    assert float(json.loads((tmp_path / "out" / "epvs.json").read_text())["summary"]["fraction_bg_of_region"]) == 0

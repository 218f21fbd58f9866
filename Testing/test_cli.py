"""The glymph command line: a full run, re-running with edited ROIs, and every bad input it handles."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import require_tool
from references import mrtrix_tensor_maps

from glymph.alps.markups import read_markups, write_markups
from glymph.alps.rois import RoiSet
from glymph.cli import main
from glymph.defaults import ROI_SETS
from glymph.dti.tensor import to_matrix
from glymph.errors import GlymphError
from glymph.volume import Volume, reoriented

GLYMPH = str(Path(sys.executable).with_name("glymph"))
HEADER = "subject,x_proj_L,x_assoc_L,y_proj_L,z_assoc_L,x_proj_R,x_assoc_R,y_proj_R,z_assoc_R,alps_L,alps_R,alps"


@pytest.fixture(scope="module")
def alps_run(noisy_alps_run):
    return noisy_alps_run


def read_row(path: Path) -> dict[str, str]:
    with open(path) as f:
        return next(csv.DictReader(f))


def test_alps_writes_every_output(alps_run):
    _, out, done = alps_run
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["alps.csv", "alps.json", "rois.mrk.json", "rois.nii.gz", "tensor.nii.gz", "fa.nii.gz", "qc_alps.png"]
    )
    lines = (out / "alps.csv").read_text().splitlines()
    assert lines[0].startswith(HEADER + ",")
    assert lines[0].endswith(",frame") and len(lines) == 2
    row = read_row(out / "alps.csv")
    assert row["subject"] == "sub-01" and row["frame"] == "anatomical"
    # the anatomical frame within 5 % of the truth (measured -4.1 %, +2.8 %); the image frame of the
    # same run, biased by the head's tilt, misses that bound (measured -8.6 % on the left)
    assert float(row["alps_L"]) == pytest.approx(1.3, rel=0.05) and float(row["alps_R"]) == pytest.approx(1.6, rel=0.05)
    assert float(row["alps"]) == pytest.approx((float(row["alps_L"]) + float(row["alps_R"])) / 2)
    sidecar = json.loads((out / "alps.json").read_text())
    assert set(sidecar["alps"]) == {"frame_in_csv", "image", "anatomical"}
    assert sidecar["alps"]["anatomical"]["alps_L"] == pytest.approx(float(row["alps_L"]))
    assert sidecar["alps"]["image"]["alps_L"] != pytest.approx(1.3, rel=0.05)
    assert len(sidecar["inputs"]["dwi"]["sha256"]) == 64 and "bvec" in sidecar["inputs"]
    assert sidecar["registration"]["brain_dice"] > 0.9
    assert sidecar["software"]["glymph"] and sidecar["models"]["template"]["sha256"]
    for package in ("scikit-image", "networkx", "torch", "dipy", "SimpleITK"):
        assert sidecar["software"][package] == metadata.version(package), package
    assert sidecar["time_s"] > 0
    assert "ALPS left" in done.stdout


@pytest.fixture(scope="module")
def mrtrix(noisy_phantom_files):
    """MRtrix3's tensor, FA, MD and colour map of the noisy phantom (LAS storage, tilted head): it
    reads the FSL files itself, so it checks glymph's frame, component order and maps independently.
    ``-iter 2`` is the fit glymph's one-reweighting WLS agrees with (median 1e-4 of the MD)."""
    require_tool("dwi2tensor")
    _, paths = noisy_phantom_files
    return mrtrix_tensor_maps(*paths, iterations=2)


def relative_to_md(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|difference| of (N, 6) tensors over each voxel's mean diffusivity (off-diagonals are near 0)."""
    return np.abs(ours - reference) / np.abs(reference[:, [0, 3, 5]]).mean(axis=1, keepdims=True)


def test_tensor_file_is_fsl_ordered_in_ras(alps_run, mrtrix):
    """tensor.nii.gz holds xx, xy, xz, yy, yz, zz in the RAS world frame: against MRtrix3 all six
    agree (median 1e-4, 99th percentile < 1 % of the MD); MRtrix's order misses by ~80 % and the
    voxel (LAS) frame flips xy and xz (99th percentile > 100 %)."""
    _, out, _ = alps_run
    tensor = nib.load(out / "tensor.nii.gz")
    brain = np.asarray(tensor.dataobj)[..., 0] != 0
    ours, reference = np.asarray(tensor.dataobj)[brain], mrtrix["tensor"][brain]
    error = relative_to_md(ours, reference)
    assert np.median(error) < 1e-3 and np.percentile(error, 99) < 0.01
    assert np.median(relative_to_md(ours[:, [0, 3, 5, 1, 2, 4]], reference)) > 0.5  # MRtrix order
    assert np.percentile(relative_to_md(ours * [1, -1, -1, 1, 1, 1], reference), 99) > 0.5  # voxel frame
    fa = nib.load(out / "fa.nii.gz")
    np.testing.assert_allclose(tensor.affine, fa.affine)
    labels = np.asarray(nib.load(out / "rois.nii.gz").dataobj)
    assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]


def test_rerun_with_the_written_rois_gives_the_same_index(alps_run, noisy_phantom_files, tmp_path):
    _, out, _ = alps_run
    _, (image, _, _) = noisy_phantom_files
    code = main(
        [
            "-q",
            "alps",
            image,
            "--out",
            str(tmp_path / "again"),
            "--rois",
            str(out / "rois.mrk.json"),
            "--subject",
            "sub-01",
            "--frame",
            "anatomical",
        ]
    )
    assert code == 0
    first, second = read_row(out / "alps.csv"), read_row(tmp_path / "again" / "alps.csv")
    for column in HEADER.split(",")[1:]:
        assert float(second[column]) == pytest.approx(float(first[column]), rel=1e-6), column
    assert json.loads((tmp_path / "again" / "alps.json").read_text())["rois"]["placement"] == "manual"


def test_moving_a_point_in_the_markups_changes_only_that_roi(alps_run, noisy_phantom_files, tmp_path):
    _, out, _ = alps_run
    _, (image, _, _) = noisy_phantom_files
    rois = read_markups(out / "rois.mrk.json", 5.0)
    moved = dict(rois.centres)
    moved["assoc_R"] = tuple(np.add(moved["assoc_R"], (0.0, 3.0, 0.0)))
    write_markups(RoiSet(moved, 5.0), tmp_path / "moved.mrk.json")
    assert (
        main(["-q", "alps", image, "--out", str(tmp_path / "moved"), "--rois", str(tmp_path / "moved.mrk.json")]) == 0
    )
    sidecar_a = json.loads((out / "alps.json").read_text())["alps"]["image"]
    sidecar_b = json.loads((tmp_path / "moved" / "alps.json").read_text())["alps"]["image"]
    assert sidecar_b["alps_L"] == pytest.approx(sidecar_a["alps_L"], rel=1e-9)
    assert sidecar_b["rois"]["assoc_R"] != sidecar_a["rois"]["assoc_R"]


def test_dti_command(noisy_phantom_files, mrtrix, tmp_path):
    """Every map of `glymph dti` against MRtrix3's dwi2tensor + tensor2metric, and the mask against
    the phantom's brain."""
    phantom, (image, _, _) = noisy_phantom_files
    assert main(["-q", "dti", image, "--out", str(tmp_path / "dti")]) == 0
    names = sorted(p.name for p in (tmp_path / "dti").iterdir())
    assert names == sorted(["tensor.nii.gz", "fa.nii.gz", "md.nii.gz", "colour_fa.nii.gz", "mask.nii.gz", "dti.json"])

    def load(name: str) -> np.ndarray:
        return np.asarray(nib.load(tmp_path / "dti" / name).dataobj)

    mask = load("mask.nii.gz") > 0
    truth = reoriented(Volume(phantom.brain_mask.astype(np.uint8), phantom.dwi.affine), "LAS").data > 0
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.9
    tensor_error = relative_to_md(load("tensor.nii.gz")[mask], mrtrix["tensor"][mask])
    assert np.percentile(tensor_error, 99) < 0.01
    # where MRtrix's tensor has a negative eigenvalue (0.7 % of the voxels: noise at the brain's
    # edge) glymph clips it to 0, as dipy does, and the FA and colour differ by design
    positive = (np.linalg.eigvalsh(to_matrix(mrtrix["tensor"][mask])) > 0).all(axis=1)
    assert positive.mean() > 0.98
    assert np.percentile(np.abs(load("fa.nii.gz")[mask] - mrtrix["fa"][mask])[positive], 99) < 0.01
    md_error = np.abs(load("md.nii.gz")[mask] - mrtrix["md"][mask]) / mrtrix["md"][mask]
    assert np.percentile(md_error, 99) < 0.01
    rgb = nib.load(tmp_path / "dti" / "colour_fa.nii.gz")
    assert rgb.get_data_dtype().names == ("R", "G", "B")
    packed = np.asarray(rgb.dataobj)
    colour = np.stack([packed["R"], packed["G"], packed["B"]], -1)[mask] / 255.0
    oriented = positive & (mrtrix["fa"][mask] > 0.3)  # a well-defined principal direction
    colour_error = np.abs(colour[oriented] - mrtrix["colour"][mask][oriented])
    assert oriented.sum() > 1000 and np.percentile(colour_error, 99) < 0.01  # 8-bit steps are 0.004
    sidecar = json.loads((tmp_path / "dti" / "dti.json").read_text())
    assert sidecar["dti"]["mask_voxels"] == mask.sum() and sidecar["dti"]["tensor_file_order"] == "xx,xy,xz,yy,yz,zz"


def test_help_does_not_import_heavy_packages():
    code = "import sys, glymph.cli; glymph.cli.build_parser().format_help(); print(sorted(m for m in ('numpy', 'scipy', 'dipy', 'SimpleITK', 'nibabel', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---- bad input: one clear line, exit status 2, no output, earlier results untouched ----


@pytest.fixture(scope="module")
def small_dwi(tmp_path_factory):
    """A small valid DWI (4 mm phantom) with its FSL files, to break in many ways."""
    from glymph.phantoms import alps_phantom, write_fsl

    folder = tmp_path_factory.mktemp("small")
    phantom = alps_phantom(voxel_mm=4.0, n_directions=12, snr=40.0)
    return write_fsl(phantom.dwi, str(folder / "dwi.nii.gz"))


def broken_copy(small_dwi, folder: Path, data=None, bvals=None, bvecs=None) -> list[str]:
    image, bval, bvec = small_dwi
    img = nib.load(image)
    array = (
        np.asarray(img.dataobj, dtype=np.float32) if data is None else data(np.asarray(img.dataobj, dtype=np.float32))
    )
    nib.save(nib.Nifti1Image(array, img.affine), folder / "bad.nii.gz")
    values = np.loadtxt(bval)[None]
    vectors = np.loadtxt(bvec)
    np.savetxt(folder / "bad.bval", values if bvals is None else bvals(values))
    np.savetxt(folder / "bad.bvec", vectors if bvecs is None else bvecs(vectors))
    return [str(folder / "bad.nii.gz")]


def expect_error(capsys, argv: list[str], message: str, out: Path) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("glymph: error: ") and message in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert not out.exists() or not any(out.iterdir())
    assert not list(out.parent.glob(f".{out.name}.*"))  # no staging folder left behind


def _with_b0_vector_nan(v):
    v = v.copy()
    v[:, 0] = np.nan
    return v


BAD_DWIS = {
    "3d": ({"data": lambda d: d[..., 0]}, "is a 3D image"),
    "bval count": ({"bvals": lambda b: b[:, :-1]}, "b-values but the image has"),
    "bvec count": ({"bvecs": lambda v: v[:, :-1]}, "b-vectors but the image has"),
    "non-unit bvec": ({"bvecs": lambda v: np.where(np.arange(v.shape[1]) == 5, v * 1.2, v)}, "has length 1.200, not 1"),
    "no b0": (
        {
            "bvals": lambda b: np.where(b < 50, 1000.0, b),
            "bvecs": lambda v: np.where(np.linalg.norm(v, axis=0) == 0, np.array([[1.0], [0], [0]]), v),
        },
        "no b0 volume",
    ),
    "nan data": ({"data": lambda d: np.where(np.indices(d.shape)[0] == 3, np.nan, d)}, "NaN or infinite values"),
    "zero data": ({"data": np.zeros_like}, "is all zero"),
    "nan weighted bvec": (
        {"bvecs": lambda v: np.where(np.arange(v.shape[1]) == 4, np.nan, v)},
        "NaN or infinite b-vector",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DWIS))
def test_bad_dwi(case, small_dwi, tmp_path, capsys):
    kwargs, message = BAD_DWIS[case]
    image = broken_copy(small_dwi, tmp_path, **kwargs)[0]
    expect_error(capsys, ["alps", image, "--out", str(tmp_path / "out")], message, tmp_path / "out")


def test_missing_files(small_dwi, tmp_path, capsys):
    image, bval, _ = small_dwi
    expect_error(
        capsys,
        ["alps", str(tmp_path / "nope.nii.gz"), "--out", str(tmp_path / "out")],
        "DWI not found",
        tmp_path / "out",
    )
    expect_error(
        capsys,
        ["dti", image, "--bval", bval, "--bvec", str(tmp_path / "x.bvec"), "--out", str(tmp_path / "out")],
        "b-vector file",
        tmp_path / "out",
    )
    expect_error(
        capsys,
        ["alps", image, "--rois", str(tmp_path / "none.mrk.json"), "--out", str(tmp_path / "out")],
        "ROI markups file not found",
        tmp_path / "out",
    )


def test_mask_of_another_geometry(small_dwi, tmp_path, capsys):
    image = small_dwi[0]
    img = nib.load(image)
    nib.save(
        nib.Nifti1Image(np.ones(img.shape[:3], np.uint8), img.affine @ np.diag([1, 1, 1.5, 1])),
        tmp_path / "mask.nii.gz",
    )
    expect_error(
        capsys,
        ["alps", image, "--mask", str(tmp_path / "mask.nii.gz"), "--out", str(tmp_path / "out")],
        "another grid",
        tmp_path / "out",
    )


def test_a_mask_error_names_the_image_it_masks(small_dwi, tmp_path):
    from glymph.masks import read_mask

    img = nib.load(small_dwi[0])
    nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), img.affine), tmp_path / "mask.nii.gz")
    grid = Volume(np.zeros(img.shape[:3], np.float32), img.affine)
    with pytest.raises(GlymphError, match="another grid than the T1 "):
        read_mask(tmp_path / "mask.nii.gz", grid, "T1")


def test_markups_missing_a_label(small_dwi, tmp_path, capsys):
    rois = RoiSet(dict(ROI_SETS["chen2025"]))  # the MNI centres, as subject points of an upright head
    write_markups(rois, tmp_path / "r.mrk.json")
    document = json.loads((tmp_path / "r.mrk.json").read_text())
    document["markups"][0]["controlPoints"] = document["markups"][0]["controlPoints"][:3]
    (tmp_path / "r.mrk.json").write_text(json.dumps(document))
    expect_error(
        capsys,
        ["alps", small_dwi[0], "--rois", str(tmp_path / "r.mrk.json"), "--out", str(tmp_path / "out")],
        "lacks the point(s) assoc_R",
        tmp_path / "out",
    )


@pytest.mark.parametrize(
    ("where", "message"), [((80.0, 0.0, 300.0), "outside the image field of view"), ((0.0, 0.0, 0.0), "")]
)
def test_rois_outside_the_fov_or_the_brain(noisy_phantom_files, alps_run, tmp_path, capsys, where, message):
    _, out, _ = alps_run
    image = noisy_phantom_files[1][0]
    rois = read_markups(out / "rois.mrk.json", 5.0)
    corner = (nib.load(image).affine @ [1.0, 1.0, 1.0, 1.0])[
        :3
    ]  # a voxel centre near a corner: in the image, outside the head
    place = np.asarray(where) if message else corner
    write_markups(RoiSet({**rois.centres, "proj_L": tuple(place)}, 5.0), tmp_path / "r.mrk.json")
    expect_error(
        capsys,
        ["alps", image, "--rois", str(tmp_path / "r.mrk.json"), "--out", str(tmp_path / "out")],
        message or "outside the brain mask",
        tmp_path / "out",
    )


def test_force_replaces_earlier_results(alps_run, noisy_phantom_files, tmp_path):
    """--force on a folder of earlier results: every file is replaced by the new run's, none is left half-written."""
    _, out, _ = alps_run
    copy = tmp_path / "alps"
    shutil.copytree(out, copy)
    image = noisy_phantom_files[1][0]
    assert main(["-q", "alps", image, "--out", str(copy), "--frame", "image", "--subject", "again", "--force"]) == 0
    row = read_row(copy / "alps.csv")
    assert row["subject"] == "again" and row["frame"] == "image"
    sidecar = json.loads((copy / "alps.json").read_text())
    assert sidecar["parameters"]["frame"] == "image" and float(row["alps_L"]) == pytest.approx(
        sidecar["alps"]["image"]["alps_L"]
    )
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in out.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_jhu_roi_set_and_b0_registration_through_the_command_line(noisy_phantom_files, tmp_path):
    """The JHU-placement ROI set on a b0 registration, end to end (the noisy 2.5 mm phantom, truth
    1.30 / 1.60; measured -1.7 % and +2.1 % in the anatomical frame)."""
    out = tmp_path / "out"
    image = noisy_phantom_files[1][0]
    argv = ["-q", "alps", image, "--out", str(out), "--roi-set", "jhu", "--registration-contrast", "b0"]
    assert main([*argv, "--frame", "anatomical"]) == 0
    sidecar = json.loads((out / "alps.json").read_text())
    assert sidecar["parameters"]["roi_set"] == "jhu" and sidecar["rois"]["set"] == "jhu"
    assert {k: list(v) for k, v in ROI_SETS["jhu"].items()} == {
        k: list(v) for k, v in sidecar["rois"]["mni_ras_mm"].items()
    }
    assert sidecar["registration"]["contrast"] == "b0" and sidecar["parameters"]["registration_contrast"] == "b0"
    index = sidecar["alps"]["anatomical"]
    assert index["alps_L"] == pytest.approx(1.3, rel=0.05) and index["alps_R"] == pytest.approx(1.6, rel=0.05)


def test_a_head_of_implausible_size_is_refused(tmp_path, capsys):
    """A head 0.6 times the template's size registers (scale 0.59) but fails the 0.67-1.5 scale limit."""
    from glymph.phantoms import HeadPose, alps_phantom, write_fsl

    phantom = alps_phantom(pose=HeadPose(scale=0.6), voxel_mm=4.0, n_directions=12, snr=40.0)
    image, _, _ = write_fsl(phantom.dwi, str(tmp_path / "small_head.nii.gz"))
    expect_error(capsys, ["alps", image, "--out", str(tmp_path / "out")], "implausible scale factors", tmp_path / "out")


def test_failed_registration_is_reported(tmp_path, capsys):
    from glymph.dti.dwi import DWI
    from glymph.dti.gradients import world_to_fsl
    from glymph.volume import Volume

    rng = np.random.default_rng(1)
    shape = (48, 48, 40)
    centred = np.indices(shape).transpose(1, 2, 3, 0) - np.array(shape) / 2
    ball = (np.linalg.norm(centred, axis=-1) < 18).astype(np.float32)
    dirs = rng.normal(size=(12, 3))
    bvals = np.r_[0.0, np.full(12, 1000.0)]
    bvecs = np.r_[np.zeros((1, 3)), dirs / np.linalg.norm(dirs, axis=1, keepdims=True)]
    data = np.abs(1000 * ball[..., None] * np.exp(-bvals * 2e-3) + rng.normal(0, 20, (*shape, 13))).astype(np.float32)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = -np.array(shape) * 1.5
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "ball.nii.gz")
    np.savetxt(tmp_path / "ball.bval", bvals[None])
    np.savetxt(tmp_path / "ball.bvec", world_to_fsl(DWI(Volume(data, affine), bvals, bvecs).bvecs, affine).T)
    expect_error(
        capsys,
        ["alps", str(tmp_path / "ball.nii.gz"), "--out", str(tmp_path / "out")],
        "registration to the MNI152 template failed",
        tmp_path / "out",
    )


def test_earlier_results_are_never_overwritten_without_force(alps_run, noisy_phantom_files, tmp_path, capsys):
    _, out, _ = alps_run
    copy = tmp_path / "earlier"
    shutil.copytree(out, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    code = main(["alps", noisy_phantom_files[1][0], "--out", str(copy)])
    assert code == 2 and "already holds results" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_a_failure_after_computing_leaves_earlier_results_intact(small_dwi, tmp_path, capsys, monkeypatch):
    """--force replaces results only when the new run completes: a crash while writing changes nothing."""
    import glymph.alps.files

    out = tmp_path / "out"
    assert main(["-q", "dti", small_dwi[0], "--out", str(out)]) == 0
    (out / "alps.csv").write_text("earlier result\n")

    def broken_figure(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(glymph.alps.files, "alps_qc_figure", broken_figure)
    rois = RoiSet(dict(ROI_SETS["chen2025"]))  # the MNI centres, as subject points of an upright head
    write_markups(rois, tmp_path / "r.mrk.json")
    with pytest.raises(RuntimeError, match="disk full"):
        main(
            [
                "-q",
                "alps",
                small_dwi[0],
                "--out",
                str(out),
                "--force",
                "--rois",
                str(tmp_path / "r.mrk.json"),
                "--roi-diameter",
                "9",
            ]
        )
    assert (out / "alps.csv").read_text() == "earlier result\n"
    assert not (out / "alps.json").exists()
    assert not list(tmp_path.glob(".out.*"))


def test_subprocess_error_has_no_traceback(tmp_path):
    done = subprocess.run(
        [GLYMPH, "alps", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"glymph: error: DWI not found: {tmp_path / 'missing.nii.gz'} (check the path)"

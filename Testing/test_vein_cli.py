"""`glymph vein` and `glymph vein import-labelme` from the command line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from references import write_labelme

from glymph.cli import main
from glymph.image_io import read_volume, write_nifti
from glymph.phantoms import swi_phantom
from glymph.volume import Volume

GLYMPH = str(Path(sys.executable).with_name("glymph"))
VEIN_OUTPUTS = [
    "vein.csv",
    "veins.csv",
    "minip.nii.gz",
    "minip_volume.nii.gz",
    "minip.png",
    "vein_seg.nii.gz",
    "minip_brain.nii.gz",
    "vein.json",
    "qc_vein.png",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vein")
    phantom = swi_phantom(seed=2)
    write_nifti(phantom.swi, folder / "swi.nii.gz")
    done = subprocess.run(
        [GLYMPH, "vein", str(folder / "swi.nii.gz"), "--out", str(folder / "out"), "--subject", "s2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return folder, phantom, done


def test_vein_writes_every_output(run):
    folder, phantom, done = run
    out = folder / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(VEIN_OUTPUTS)
    assert (out / "vein.csv").read_text().splitlines()[0].startswith("subject,hemisphere,count,diameter_mm,tortuosity")
    with open(out / "vein.csv") as f:
        rows = {row["hemisphere"]: row for row in csv.DictReader(f)}
    with open(out / "veins.csv") as f:
        veins = list(csv.DictReader(f))
    assert set(rows) == {"left", "right"}
    assert sum(int(r["count"]) for r in rows.values()) == len(veins)
    assert (
        abs(int(rows["left"]["count"]) - phantom.count("left")) <= 2
        and abs(int(rows["right"]["count"]) - phantom.count("right")) <= 2
    )
    seg = nib.load(out / "vein_seg.nii.gz")
    minip = nib.load(out / "minip.nii.gz")
    assert seg.shape == minip.shape and seg.shape[2] == 1 and np.allclose(seg.affine, minip.affine)
    assert np.asarray(seg.dataobj).max() == len(veins)
    png = __import__("matplotlib.pyplot", fromlist=["imread"]).imread(out / "minip.png")
    assert png.shape[:2] == (minip.shape[1], minip.shape[0])  # rows = A-P, columns = L-R
    sidecar = json.loads((out / "vein.json").read_text())
    assert sidecar["level"]["chosen_by"].startswith("lateral ventricle bodies")
    assert len(sidecar["veins"]) == len(veins) and len(sidecar["veins"][0]["centreline_ras_mm"]) > 5
    assert "s2: left" in done.stdout


def test_a_result_folder_reads_back_as_the_result_it_was_written_from(run, tmp_path):
    """What a panel loads after the command ran in another process: written again, the folder's
    tables, label map and brain mask come out the same."""
    from glymph.errors import GlymphError
    from glymph.vein import read_vein, write_vein

    folder, _, _ = run
    result = read_vein(folder / "out")
    assert result.subject == "s2" and result.minip_volume is not None and result.brain.any()
    write_vein(result, tmp_path / "again")
    for table in ("vein.csv", "veins.csv"):
        assert (tmp_path / "again" / table).read_text() == (folder / "out" / table).read_text(), table
    for image in ("vein_seg.nii.gz", "minip_brain.nii.gz"):
        first, second = (np.asarray(nib.load(f / image).dataobj) for f in (folder / "out", tmp_path / "again"))
        np.testing.assert_array_equal(first, second)
    written, again = (json.loads((f / "vein.json").read_text()) for f in (folder / "out", tmp_path / "again"))
    assert again["veins"] == written["veins"] and again["midline"] == written["midline"]
    assert again["level"] == written["level"]
    assert [again["parameters"][key] == written["parameters"][key] for key in ("slab_mm", "method")] == [True, True]
    with pytest.raises(GlymphError, match="not a complete vein result folder"):
        read_vein(tmp_path)


def displayed_voxels(minip: Volume, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel (row, column) of a picture of the MinIP shown as radiologists read axial
    images (subject's right on the left, anterior at the top), the MinIP voxel (i, j) it shows,
    worked out from the voxels' RAS positions: x falls as the column grows, y as the row grows."""
    size = minip.shape[:2]
    centres = minip.voxel_to_world(np.stack(np.meshgrid(*map(np.arange, size), [0], indexing="ij"), -1)[:, :, 0])
    by_x = np.argsort(-centres[:, 0, 0])  # i of the voxel columns, subject's right first
    by_y = np.argsort(-centres[0, :, 1])  # j of the voxel rows, anterior first
    rows, columns = np.indices(shape)
    return by_x[columns], by_y[rows]


def test_minip_png_is_the_minip_as_a_radiologist_sees_it(run):
    """minip.png shows minip.nii.gz pixel for pixel, subject's right on the left, anterior at the
    top, grey levels from 0 to the brain's 99.5th percentile."""
    import matplotlib.pyplot as plt

    folder, phantom, _ = run
    png = plt.imread(folder / "out" / "minip.png")[..., 0]
    minip = read_volume(folder / "out" / "minip.nii.gz")
    minip = minip.with_data(minip.data.reshape(*minip.shape[:2], 1))
    i, j = displayed_voxels(minip, png.shape)
    shown = minip.data[i, j, 0]
    brain = shown[shown != np.median(shown)]  # outside the brain the brain-only MinIP is its median
    np.testing.assert_allclose(png, np.clip(shown / np.percentile(brain, 99.5), 0, 1), atol=0.01)
    assert (phantom.truth_2d[i, j] > 0).any()


def test_labelme_polygons_drawn_on_minip_png_land_on_the_veins(run, tmp_path):
    """An annotator outlines each vein where it is seen in minip.png; the polygons, in the PNG's own
    pixel coordinates (x right, y down, pixel centres at +0.5), imported onto the MinIP grid, cover
    that same vein of the phantom. A left-right or up-down flip between picture and reader would put
    them on empty brain."""
    import matplotlib.pyplot as plt
    from skimage.measure import find_contours

    folder, phantom, _ = run
    png = plt.imread(folder / "out" / "minip.png")
    minip = read_volume(folder / "out" / "minip.nii.gz")
    minip = minip.with_data(minip.data.reshape(*minip.shape[:2], 1))
    i, j = displayed_voxels(minip, png.shape[:2])
    seen = phantom.truth_2d[i, j]  # the true veins as they appear in the picture
    shapes = []
    for vein in phantom.veins:
        outline = max(find_contours(np.pad(seen == vein.id, 1).astype(float), 0.5), key=len) - 1  # (row, column)
        points = [[float(column + 0.5), float(row + 0.5)] for row, column in outline]
        shapes.append({"label": "vein", "points": points, "shape_type": "polygon", "group_id": None, "flags": {}})
    document = {"shapes": shapes, "imageWidth": png.shape[1], "imageHeight": png.shape[0], "imagePath": "minip.png"}
    (tmp_path / "s2.json").write_text(json.dumps(document))
    reference = str(folder / "out" / "minip.nii.gz")
    argv = ["-q", "vein", "import-labelme", str(tmp_path / "s2.json"), "--reference", reference]
    assert main([*argv, "--out", str(tmp_path / "labels")]) == 0
    imported = read_volume(tmp_path / "labels" / "s2.nii.gz").data.reshape(phantom.truth_2d.shape)
    truth = phantom.truth_2d
    assert 2 * ((imported > 0) & (truth > 0)).sum() / ((imported > 0).sum() + (truth > 0).sum()) > 0.85
    for value, vein in enumerate(phantom.veins, start=1):
        assert (truth[imported == value] == vein.id).mean() > 0.7, f"polygon {value} missed vein {vein.id}"
    evaluate = ["evaluate", str(folder / "out" / "vein_seg.nii.gz"), str(tmp_path / "labels" / "s2.nii.gz")]
    assert main([*evaluate, "--out", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["rows"][0]["lesion_sensitivity"] > 0.8


def test_force_and_a_failure_while_writing(run, tmp_path, monkeypatch):
    """A write that fails (after computing) changes nothing in a folder of earlier results; one
    that succeeds with --force replaces them all."""
    import shutil

    import glymph.vein.files
    from glymph.vein import run_vein, write_vein

    folder, phantom, _ = run
    copy = tmp_path / "out"
    shutil.copytree(folder / "out", copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    result = run_vein(phantom.swi, subject="again", slab_mm=16.0)

    def broken_figure(*_):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(glymph.vein.files, "vein_qc_figure", broken_figure)
        with pytest.raises(RuntimeError, match="disk full"):
            write_vein(result, copy, force=True)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    write_vein(result, copy, force=True)
    sidecar = json.loads((copy / "vein.json").read_text())
    assert sidecar["subject"] == "again" and sidecar["parameters"]["slab_mm"] == 16.0
    assert sorted(p.name for p in copy.iterdir()) == sorted(VEIN_OUTPUTS)


def expect_error(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("glymph: error: ") and message in err[-1], err


def test_bad_vein_inputs(run, tmp_path, capsys):
    folder, _, _ = run
    swi = str(folder / "swi.nii.gz")
    expect_error(capsys, ["vein", swi, "--slab-mm", "400", "--out", str(tmp_path / "a")], "slices but the image has")
    expect_error(
        capsys, ["vein", swi, "--slab-center-mm", "300", "--out", str(tmp_path / "b")], "lies outside the image"
    )
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10, 2), np.float32), np.eye(4)), tmp_path / "four.nii.gz")
    expect_error(capsys, ["vein", str(tmp_path / "four.nii.gz"), "--out", str(tmp_path / "c")], "must be a 3D image")
    expect_error(capsys, ["vein", swi, "--method", "deep", "--out", str(tmp_path / "d")], "'deep' is not available")
    assert not any((tmp_path / name).exists() for name in "abcd")
    reference = read_volume(folder / "out" / "minip.nii.gz")
    small = Volume(np.zeros((50, 60, 1), np.float32), reference.affine)
    write_labelme(tmp_path / "other.json", [np.array([[1, 1], [1, 5], [5, 5]], float)], small)
    expect_error(
        capsys,
        [
            "vein",
            "import-labelme",
            str(tmp_path / "other.json"),
            "--reference",
            str(folder / "out" / "minip.nii.gz"),
            "--out",
            str(tmp_path / "e"),
        ],
        "drawn on a 50x60 image",
    )
    (tmp_path / "junk.json").write_text("{}")
    expect_error(
        capsys,
        [
            "vein",
            "import-labelme",
            str(tmp_path / "junk.json"),
            "--reference",
            str(folder / "out" / "minip.nii.gz"),
            "--out",
            str(tmp_path / "f"),
        ],
        "is not a Labelme annotation",
    )


@pytest.mark.parametrize("shape", [(40, 40, 40), (200, 200, 60), (260, 260, 60)])
def test_noise_is_not_a_head(tmp_path, capsys, shape):
    """Random noise is refused with one line, whatever its size (measured: a 40^3 volume's brain
    covers 10 cm^2; 200x200x60: neighbouring pixels of the MinIP binned to 2 mm correlate 0.38, the phantoms 0.46-0.71;
    260x260: 400+ cm^2), and nothing is written."""
    path = tmp_path / "noise.nii.gz"
    write_nifti(Volume(np.random.default_rng(0).random(shape).astype(np.float32), np.eye(4)), path)
    out = tmp_path / "out"
    assert main(["-q", "vein", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glymph: error: ") and "SWI of a head" in err[0], err
    assert not out.exists()

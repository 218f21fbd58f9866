"""The learned ALPS ROI detector: its training phantoms, what its networks see, its checks, the
one-minute training command, and placement through the CLI (fallback, damaged and missing models,
and the shipped model's accuracy on a deformed head with atrophy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

from glymph.alps.detector import (
    BOX_PIXEL_MM,
    LEVEL_Z,
    MIN_CONFIDENCE,
    colour_fa_slices,
    combine_boxes,
    estimate_level,
    plausibility_problems,
    roi_slices_z,
    template_to_pixel,
)
from glymph.alps.rois import LABELS
from glymph.cli import main
from glymph.defaults import ROI_SETS
from glymph.dti.tensor import TensorModel
from glymph.models.roi_detector import decode_yolo
from glymph.phantoms import Deformation, HeadPose, alps_phantom, write_fsl
from glymph.registration import AffineMap
from glymph.volume import Volume

CHEN = ROI_SETS["chen2025"]


def test_deformation_inverts_and_atrophy_pushes_the_tracts_outward():
    deformation = Deformation.random(np.random.default_rng(3), max_atrophy_mm=8.0)
    points = np.random.default_rng(4).uniform(-60, 60, (200, 3))
    np.testing.assert_allclose(deformation.backward(deformation.forward(points)), points, atol=1e-5)
    atrophy = Deformation(atrophy_mm=6.0)
    moved = atrophy.forward(np.array([CHEN["proj_R"], CHEN["proj_L"], (30.0, 60.0, 18.0)]))
    assert (
        moved[0, 0] > CHEN["proj_R"][0] + 2 and moved[1, 0] < CHEN["proj_L"][0] - 2
    )  # pushed away from the ventricles
    np.testing.assert_allclose(moved[2], (30.0, 60.0, 18.0), atol=1e-6)  # in front of the ventricles: still
    with pytest.raises(ValueError, match="fold"):
        Deformation(atrophy_mm=30.0)


def test_deformed_phantom_truth_lies_in_its_tracts():
    """Independent of the detector: the tensors fitted around each true centre point along the
    tract the ROI samples (projection S-I, association A-P in template axes)."""
    pose = HeadPose((6.0, -5.0, 4.0), (3.0, -2.0, 4.0), 1.0)
    phantom = alps_phantom(pose=pose, deformation=Deformation(atrophy_mm=7.0), snr=float("inf"), voxel_mm=1.5)
    dwi = phantom.dwi
    fit = TensorModel(dwi.bvals, dwi.bvecs).fit(dwi.data, phantom.brain_mask)
    grid = Volume(phantom.brain_mask, dwi.affine)
    for label, centre in phantom.true_rois().items():
        ijk = np.round(grid.world_to_voxel(centre)).astype(int)
        direction = pose.rotation.T @ fit.evecs[tuple(ijk)][:, 0]  # template axes
        expected = 2 if label.startswith("proj") else 1
        assert abs(direction[expected]) > 0.95, (label, direction)
    undeformed = pose.matrix() @ np.array([*CHEN["proj_R"], 1.0])
    moved = pose.rotation.T @ (phantom.true_rois()["proj_R"] - undeformed[:3])  # template axes
    assert moved[0] > 2.0  # atrophy pushed it laterally


def test_colour_fa_slices_show_template_axes_whatever_the_pose_and_storage():
    """Red = L-R, green = A-P, blue = S-I in template axes, the subject's left in the left columns."""
    from glymph.volume import reoriented

    pose = HeadPose((12.0, -8.0, 15.0), (5.0, -4.0, 3.0), 1.05)
    phantom = alps_phantom(pose=pose, snr=float("inf"))
    dwi = phantom.dwi
    fit = TensorModel(dwi.bvals, dwi.bvecs).fit(dwi.data, phantom.brain_mask)
    tensor = reoriented(Volume(fit.tensor, dwi.affine), "LPI")
    image = colour_fa_slices(tensor, AffineMap(pose.matrix()), [24.0], BOX_PIXEL_MM)[0]
    for point, channel in (((26.0, -12.0), 2), ((-26.0, -12.0), 2), ((38.0, -12.0), 1), ((-38.0, -12.0), 1)):
        column, row = template_to_pixel(np.array([*point, 24.0]), BOX_PIXEL_MM)
        rgb = image[:, int(row), int(column)]
        assert rgb.argmax() == channel and rgb[channel] > 0.4, (point, rgb)
    assert image[:, :, :64].sum() > 0 and image[:, :, 64:].sum() > 0


def test_level_boxes_and_checks_from_hand_made_outputs():
    truth = np.array([24.0, 27.0, 22.5, 26.0])  # one level per ROI: a head tilted left against right
    offsets = truth[None, :] - LEVEL_Z[:, None]
    offsets[:3] = 40.0  # slices far from the level may say anything
    levels, spreads = estimate_level(offsets)
    np.testing.assert_allclose(levels, truth)
    np.testing.assert_allclose(spreads, 0.0)
    one, _ = estimate_level(offsets[:, 0])  # a one-level model's (n,) answers
    np.testing.assert_allclose(one, [24.0])
    np.testing.assert_allclose(roi_slices_z(truth)[1], [25.0, 27.0, 29.0])
    raw = np.zeros((1, 8, 5))
    raw[0, 0], raw[0, 1] = [10, 20, 30, 40, 50], [1, 2, 3, 4, 5]
    raw[0, 4:, :] = 0.1
    raw[0, 4 + 2, 3] = 0.9  # class 2 (assoc_L) best at anchor 3
    decoded = decode_yolo(raw)
    np.testing.assert_allclose(decoded[0, 2], [40, 4, 0.9])
    boxes = np.array([[[*template_to_pixel(np.array(CHEN[label]), BOX_PIXEL_MM), 0.8] for label in LABELS]] * 2)
    centres, confidence = combine_boxes(boxes, 24.0)
    for label in LABELS:
        np.testing.assert_allclose(centres[label], CHEN[label], atol=1e-9)
    assert plausibility_problems(centres, confidence) == []
    own_levels, _ = combine_boxes(boxes, truth)
    np.testing.assert_allclose([own_levels[label][2] for label in LABELS], truth)
    swapped = {**centres, "proj_L": centres["proj_R"], "proj_R": centres["proj_L"]}
    assert any("mid-line" in p for p in plausibility_problems(swapped, confidence))
    crossed = {**centres, "proj_R": centres["assoc_R"], "assoc_R": centres["proj_R"]}
    assert any("lateral" in p for p in plausibility_problems(crossed, confidence))
    unsure = {**confidence, "assoc_R": MIN_CONFIDENCE / 2}
    assert any("assoc_R confidence" in p for p in plausibility_problems(centres, unsure))
    far = {**centres, "proj_L": centres["proj_L"] + (0, 20, 0)}
    assert any("atlas position" in p for p in plausibility_problems(far, confidence))
    low = {**centres, "assoc_L": centres["assoc_L"] + (0, 0, -30)}
    assert any("assoc_L level" in p for p in plausibility_problems(low, confidence))


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory) -> Path:
    """The one-minute version of ``glymph train roi-detector``."""
    require_module("ultralytics")
    out = tmp_path_factory.mktemp("detector") / "model"
    argv = ["-q", "train", "roi-detector", "--out", str(out), "--subjects", "4", "--validation-subjects", "2"]
    assert main([*argv, "--level-epochs", "1", "--yolo-epochs", "1"]) == 0
    return out


def test_training_command_makes_a_checked_model_folder(quick_model, capsys):
    from glymph.outputs import sha256

    manifest = json.loads((quick_model / "model.json").read_text())
    assert manifest["model"] == "alps-roi-detector"
    for name in ("level_cnn.onnx", "roi_yolo.onnx"):
        assert manifest["files"][name] == sha256(quick_model / name)
        assert (quick_model / name).stat().st_size < 20e6
    assert manifest["validation"]["subjects"] == 2 and "left_right_error_mm" in manifest["validation"]
    assert not (quick_model / "yolo_data").exists()
    assert main(["train", "roi-detector", "--out", str(quick_model)]) == 2  # never overwrites a model
    assert "already holds a model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def deformed_head(tmp_path_factory):
    """A head with atrophy and a non-linear shape, tilted, stored LAS, SNR 60 (so that the index
    error measures the placement more than the noise): (phantom, dwi path)."""
    rng = np.random.default_rng(20261127)
    deformation = Deformation.random(rng, max_shift_mm=3.0, max_atrophy_mm=0.0)
    deformation = Deformation(deformation.centres, deformation.widths, deformation.vectors, atrophy_mm=7.0)
    phantom = alps_phantom(
        1.25, 1.55, HeadPose((8.0, -5.0, 6.0), (4.0, -3.0, 2.0), 1.0), deformation=deformation, snr=60.0, seed=11
    )
    path = tmp_path_factory.mktemp("deformed") / "dwi.nii.gz"
    write_fsl(phantom.dwi, str(path), storage="LAS")
    return phantom, str(path)


def test_implausible_detection_falls_back_to_the_atlas(quick_model, deformed_head, tmp_path):
    from glymph.alps.files import read_alps

    _, dwi = deformed_head
    assert main(["-q", "alps", dwi, "--out", str(tmp_path / "atlas")]) == 0
    argv = [
        "-q",
        "alps",
        dwi,
        "--out",
        str(tmp_path / "det"),
        "--placement",
        "detector",
        "--model-dir",
        str(quick_model),
    ]
    assert main([*argv, "--threads", "1"]) == 0
    detected = json.loads((tmp_path / "det" / "alps.json").read_text())
    atlas = json.loads((tmp_path / "atlas" / "alps.json").read_text())
    assert detected["rois"]["placement"] == "atlas (detector fallback)"  # one epoch on four subjects: not confident
    assert detected["rois"]["detector"]["problems"] and set(detected["rois"]["detector"]["confidence"]) == set(LABELS)
    assert detected["rois"]["subject_ras_mm"] == atlas["rois"]["subject_ras_mm"]
    assert detected["alps"]["image"] == atlas["alps"]["image"]
    assert detected["models"]["roi_detector"]["files"]["roi_yolo.onnx"]["path"] == str(quick_model / "roi_yolo.onnx")
    assert detected["parameters"]["placement"] == "detector"
    back = read_alps(tmp_path / "det")
    assert back.placement == "atlas (detector fallback)" and back.detection["problems"]


def test_damaged_missing_and_misused_models_are_one_line_errors(quick_model, deformed_head, tmp_path, capsys):
    _, dwi = deformed_head
    damaged = tmp_path / "damaged"
    shutil.copytree(quick_model, damaged)
    with open(damaged / "roi_yolo.onnx", "r+b") as file:
        file.seek(1000)
        file.write(b"\x00" * 16)
    out = tmp_path / "out"
    assert main(["alps", dwi, "--out", str(out), "--placement", "detector", "--model-dir", str(damaged)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("glymph: error: model file") and "damaged" in err[-1] and "roi_yolo.onnx" in err[-1]
    assert not out.exists()
    (damaged / "level_cnn.onnx").unlink()
    assert main(["alps", dwi, "--out", str(out), "--placement", "detector", "--model-dir", str(damaged)]) == 2
    assert "lacks level_cnn.onnx" in capsys.readouterr().err
    rois = tmp_path / "rois.mrk.json"
    rois.write_text("{}")
    assert main(["alps", dwi, "--out", str(out), "--placement", "detector", "--rois", str(rois)]) == 2
    assert "leave it out when giving --rois" in capsys.readouterr().err


def test_intraclass_correlation_matches_shrout_and_fleiss():
    """Their Table 2 (6 targets, 4 judges): ICC(1,1) 0.17, ICC(2,1) 0.29, ICC(3,1) 0.71."""
    from glymph.evaluation import intraclass_correlation

    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    icc = intraclass_correlation(np.array(ratings))
    assert icc["icc1"] == pytest.approx(0.17, abs=0.005)
    assert icc["icc2"] == pytest.approx(0.29, abs=0.005)
    assert icc["icc3"] == pytest.approx(0.71, abs=0.005)
    same = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert intraclass_correlation(same)["icc2"] == pytest.approx(1.0)


def test_threads_must_be_positive(deformed_head, tmp_path, capsys):
    _, dwi = deformed_head
    assert main(["alps", dwi, "--out", str(tmp_path / "out"), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def template_axes_errors(phantom, centres: dict) -> tuple[np.ndarray, np.ndarray]:
    """|L-R| and total error (mm) of subject-space ROI centres, in the head's own axes."""
    truth = phantom.true_rois()
    difference = np.array([np.asarray(centres[label]) - truth[label] for label in LABELS])
    return np.abs((difference @ phantom.pose.rotation)[:, 0]), np.linalg.norm(difference, axis=1)


def test_shipped_detector_finds_the_tracts_of_a_deformed_head_with_atrophy(deformed_head, tmp_path):
    """The shipped networks (checked against the registry) on a head no training seed made: every
    centre within 1.5 mm of the truth across the tracts and 5 mm overall, closer than the atlas,
    and the index of each hemisphere within 0.05 of the truth."""
    phantom, dwi = deformed_head
    runs = {}
    for placement in ("atlas", "detector"):
        out = tmp_path / placement
        assert main(["-q", "alps", dwi, "--out", str(out), "--placement", placement, "--frame", "anatomical"]) == 0
        runs[placement] = json.loads((out / "alps.json").read_text())
    detector = runs["detector"]
    assert detector["rois"]["placement"] == "detector", detector["rois"]["detector"]["problems"]
    assert min(detector["rois"]["detector"]["confidence"].values()) > 0.5
    assert detector["models"]["roi_detector"]["version"] == "1.1.0"
    across, overall = template_axes_errors(phantom, detector["rois"]["subject_ras_mm"])
    atlas_across, _ = template_axes_errors(phantom, runs["atlas"]["rois"]["subject_ras_mm"])
    assert across.max() <= 1.5 and overall.max() <= 5.0, (across, overall)
    assert across.max() < atlas_across.max()
    index = detector["alps"]["anatomical"]
    assert abs(index["alps_L"] - phantom.alps_left) <= 0.05 and abs(index["alps_R"] - phantom.alps_right) <= 0.05

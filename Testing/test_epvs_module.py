"""The EPVS module's logic (EPVSLib) on real MRML nodes, and its headless batch script."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import ROOT, cancel_when, held_python, poll_task, require_module, run_batch_script

slicer = require_module("slicer", module_level=True)

from EPVSLib import EpvsNodeLogic, EpvsOptions  # noqa: E402
from EPVSLib.logic import EpvsInputs, install_plan, lesion_centroid, runs_network  # noqa: E402

from glymph.errors import GlymphError  # noqa: E402
from glymph.image_io import read_volume, write_nifti  # noqa: E402
from glymph_mrml import rows_from_table, segmentation_to_labelmap, volume_to_node  # noqa: E402

BATCH = ROOT / "EPVSModule" / "Resources" / "Scripts" / "epvs_batch.py"


@pytest.fixture(scope="module")
def files(colin_phantom, colin_result, tmp_path_factory):
    """The phantom's T1 and mask, and the session's result on them written as `glymph epvs` writes it."""
    from glymph.epvs import write_epvs

    folder = tmp_path_factory.mktemp("epvs_module")
    write_nifti(colin_phantom.t1, folder / "t1.nii.gz")
    write_nifti(
        colin_phantom.brain_mask.with_data(colin_phantom.brain_mask.data.astype(np.uint8)),
        folder / "mask.nii.gz",
        np.uint8,
    )
    write_epvs(colin_result, folder / "cli")
    return folder


def summary_csv(path):
    with open(path) as f:
        return next(csv.DictReader(f))


@pytest.fixture(scope="module")
def module_run(files):
    scene = slicer.vtkMRMLScene()
    t1 = volume_to_node(read_volume(files / "t1.nii.gz"), scene, "t1")
    mask = volume_to_node(read_volume(files / "mask.nii.gz"), scene, "mask", class_name="vtkMRMLLabelMapVolumeNode")
    logic = EpvsNodeLogic(scene)
    result, outputs = logic.run(t1, EpvsOptions(method="classical"), mask_node=mask)
    return scene, t1, result, outputs


def test_module_logic_matches_the_backend(files, module_run):
    _, _, result, _ = module_run
    cli = summary_csv(files / "cli" / "epvs.csv")
    summary = result.summary()
    assert int(cli["count"]) == summary["count"] > 10
    for column in ("total_volume_mm3", "volume_bg_mm3", "volume_cso_mm3", "brain_volume_mm3"):
        assert float(cli[column]) == pytest.approx(summary[column]), column


def test_segmentation_and_tables(module_run):
    _, _, result, outputs = module_run
    segmentation = outputs.segmentation.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["EPVS", "basal ganglia", "centrum semiovale", "midbrain"]
    display = outputs.segmentation.GetDisplayNode()
    visible = {name: display.GetSegmentVisibility(segmentation.GetSegmentIdBySegmentName(name)) for name in names}
    assert visible == {"EPVS": True, "basal ganglia": False, "centrum semiovale": False, "midbrain": False}
    epvs = segmentation_to_labelmap(outputs.segmentation, result.t1, ["EPVS"]).data
    np.testing.assert_array_equal(epvs > 0, result.labels_on_input_grid().data > 0)
    lesions = rows_from_table(outputs.lesion_table)
    assert len(lesions) == len(result.lesions)
    first = result.lesions[0]
    assert lesion_centroid(outputs.lesion_table, first.id) == pytest.approx(
        (first.centroid_x, first.centroid_y, first.centroid_z)
    )
    summary = {row["Measure"]: row["Value"] for row in rows_from_table(outputs.summary_table)}
    assert summary["count"] == len(result.lesions)


def test_bad_inputs(module_run):
    scene, t1_node, _, _ = module_run
    logic = EpvsNodeLogic(scene)
    with pytest.raises(GlymphError, match="select a T1"):
        logic.read_inputs(None, EpvsOptions())
    with pytest.raises(GlymphError, match="not available"):
        logic.compute(logic.read_inputs(t1_node, EpvsOptions()), EpvsOptions(method="unet3000"))


def test_panel_runs_the_command_in_its_own_process_and_loads_its_folder(module_run, tmp_path):
    """What the panel does when a network runs: progress as it comes, the result folder read back
    into nodes with the numbers of the run in Slicer's process, the scratch folder removed."""
    scene, t1, in_process, _ = module_run
    logic, options = EpvsNodeLogic(scene), EpvsOptions(subject="t1", method="classical")
    inputs = logic.read_inputs(t1, options, mask_node=scene.GetFirstNodeByName("mask"))
    task = logic.start_process(inputs, options, tmp_path / "work", scratch=True)
    seen = poll_task(task)
    assert task.error is None, task.error
    assert [any(step in line for line in seen) for step in ("affine registration", "EPVS segmentation")] == [True] * 2
    assert not (tmp_path / "work").exists()
    outputs = logic.show(task.result)
    summary = {row["Measure"]: row["Value"] for row in rows_from_table(outputs.summary_table)}
    assert summary["count"] == len(in_process.lesions)
    assert summary["total_volume_mm3"] == pytest.approx(in_process.summary()["total_volume_mm3"])
    epvs = segmentation_to_labelmap(outputs.segmentation, in_process.t1, ["EPVS"]).data
    np.testing.assert_array_equal(epvs > 0, in_process.labels_on_input_grid().data > 0)
    assert len(rows_from_table(outputs.lesion_table)) == len(in_process.lesions)


def test_panel_process_cancel_and_errors(module_run, tmp_path):
    scene, t1, _, _ = module_run
    logic, options = EpvsNodeLogic(scene), EpvsOptions()
    mask = scene.GetFirstNodeByName("mask")
    held = held_python(tmp_path, "affine registration")
    inputs = logic.read_inputs(t1, options, mask_node=mask)
    task = logic.start_process(inputs, options, tmp_path / "cancelled", python=held)
    cancel_when(task, "affine registration")
    assert (str(task.error), task.process.returncode) == ("cancelled", 130)
    assert not (tmp_path / "cancelled" / "result").exists()
    learned = EpvsOptions(method="learned", model_dir=str(tmp_path / "nowhere"))
    task = logic.start_process(
        logic.read_inputs(t1, learned, mask_node=mask), learned, tmp_path / "failed", scratch=True
    )
    poll_task(task)
    assert isinstance(task.error, GlymphError) and "nowhere is not a folder" in str(task.error)
    assert task.result is None and not (tmp_path / "failed").exists()


def test_a_network_sends_the_panel_to_a_process():
    """Brain extraction (no mask) or a learned method runs in a process; the classical method on a
    given mask runs in Slicer's."""
    from glymph.volume import Volume

    t1 = Volume(np.zeros((2, 2, 2), np.float32), np.eye(4))
    assert runs_network(EpvsInputs(t1), EpvsOptions(method="classical"))
    assert not runs_network(EpvsInputs(t1, mask=t1), EpvsOptions(method="classical"))
    assert runs_network(EpvsInputs(t1, mask=t1), EpvsOptions())  # the default, learned


def test_batch_script_writes_the_same_files_as_the_cli(files):
    out = files / "batch"
    done = run_batch_script(
        BATCH,
        str(files / "t1.nii.gz"),
        "--mask",
        str(files / "mask.nii.gz"),
        "--method",
        "classical",
        "--out",
        str(out),
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (files / "cli").iterdir())
    batch, cli = summary_csv(out / "epvs.csv"), summary_csv(files / "cli" / "epvs.csv")
    assert batch["count"] == cli["count"] and float(batch["total_volume_mm3"]) == pytest.approx(
        float(cli["total_volume_mm3"])
    )


def test_batch_script_fails_cleanly(tmp_path):
    done = run_batch_script(BATCH, str(tmp_path / "none.nii.gz"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "T1 not found" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def required_packages(plan) -> set[str]:
    """Package names in the requirement files of an install plan."""
    lines = [line for step in plan if step != "torch" for line in step.read_text().splitlines()]
    return {
        line.split(">")[0].split("=")[0].strip().lower() for line in lines if line.strip() and not line.startswith("#")
    }


def test_install_plan_takes_torch_from_the_pytorch_extension_first_and_only_for_networks():
    with_mask, without = install_plan(True, "classical"), install_plan(False, "classical")
    assert "torch" not in with_mask and not required_packages(with_mask) & {"torch", "deepbet"}
    assert without[0] == "torch"  # before any file whose packages need it
    assert "deepbet" in required_packages(without) and "torch" not in required_packages(without)
    learned = install_plan(mask_given=True, method="learned")
    assert install_plan(mask_given=True) == learned  # the default method
    assert learned[0] == "torch" and {"onnxruntime", "monai"} <= required_packages(learned)
    assert "deepbet" not in required_packages(learned)

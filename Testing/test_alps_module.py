"""The ALPS module's logic (ALPSLib) on real MRML nodes, and its headless batch script."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import ROOT, cancel_when, held_python, poll_task, require_module, run_batch_script

slicer = require_module("slicer", module_level=True)

from ALPSLib import AlpsNodeLogic, AlpsOptions, AlpsOutputs  # noqa: E402

from glymph.dti.dwi import read_dwi  # noqa: E402
from glymph.errors import GlymphError  # noqa: E402
from glymph.volume import Volume  # noqa: E402
from glymph_mrml import dwi_to_node, rois_to_markups_node, rows_from_table, volume_to_node  # noqa: E402

BATCH = ROOT / "ALPSModule" / "Resources" / "Scripts" / "alps_batch.py"
COLUMNS = (
    "x_proj_L",
    "x_assoc_L",
    "y_proj_L",
    "z_assoc_L",
    "x_proj_R",
    "x_assoc_R",
    "y_proj_R",
    "z_assoc_R",
    "alps_L",
    "alps_R",
    "alps",
)


def csv_row(path) -> dict[str, str]:
    with open(path) as f:
        return next(csv.DictReader(f))


@pytest.fixture(scope="module")
def cli_result(noisy_alps_run):
    """`glymph alps` on the phantom files, anatomical frame (the sidecar holds both frames)."""
    _, out, _ = noisy_alps_run
    return json.loads((out / "alps.json").read_text())["alps"]


@pytest.fixture(scope="module")
def module_run(noisy_phantom_files):
    """The module logic on a scene holding the same files as a DWI node."""
    _, (image, _, _) = noisy_phantom_files
    scene = slicer.vtkMRMLScene()
    node = dwi_to_node(read_dwi(image), scene, "dwi")
    logic = AlpsNodeLogic(scene)
    result, outputs = logic.run(node, AlpsOptions(frame="anatomical"))
    return scene, logic, node, result, outputs


def test_module_logic_matches_the_command_line(cli_result, module_run):
    _, _, _, result, _ = module_run
    for frame, index in (("image", result.image), ("anatomical", result.anatomical)):
        for column, value in index.columns().items():
            assert value == pytest.approx(cli_result[frame][column], rel=1e-6), (frame, column)


def test_module_outputs_are_real_nodes(module_run):
    scene, _, _, result, outputs = module_run
    assert outputs.markups.GetNumberOfControlPoints() == 4
    assert [outputs.markups.GetNthControlPointLabel(i) for i in range(4)] == ["proj_L", "proj_R", "assoc_L", "assoc_R"]
    display = outputs.markups.GetDisplayNode()
    assert (
        display.GetGlyphTypeAsString() == "Sphere3D"
        and display.GetGlyphSize() == 5.0
        and not display.GetUseGlyphScale()
    )
    assert outputs.tensor.IsA("vtkMRMLDiffusionTensorVolumeNode")
    assert outputs.fa.IsA("vtkMRMLScalarVolumeNode") and outputs.colour_fa.IsA("vtkMRMLVectorVolumeNode")
    rows = rows_from_table(outputs.table)
    assert rows[0]["Measure"] == "ALPS index (anatomical frame)"
    assert rows[0]["Left"] == pytest.approx(result.index.alps_L) and rows[0]["Mean"] == pytest.approx(result.index.alps)
    assert len(outputs.created) == 5
    assert all(scene.GetNodeByID(node_id) is not None for node_id in outputs.created)


def test_dti_node_gives_the_same_index_as_the_dwi(module_run):
    _scene, logic, _, result, outputs = module_run
    from_tensor, _ = logic.run(outputs.tensor, AlpsOptions(frame="anatomical"))
    for a, b in ((from_tensor.image, result.image), (from_tensor.anatomical, result.anatomical)):
        assert a.alps_L == pytest.approx(b.alps_L, rel=1e-6) and a.alps_R == pytest.approx(b.alps_R, rel=1e-6)


def test_recompute_uses_moved_points_without_registering(module_run, monkeypatch):
    _scene, logic, _, result, outputs = module_run
    import glymph.alps.pipeline

    def no_registration(*_args, **_kwargs):
        raise AssertionError("recompute must not register")

    monkeypatch.setattr(glymph.alps.pipeline, "register_to_mni", no_registration)
    same = logic.recompute(outputs)
    assert same.anatomical.alps_L == pytest.approx(result.anatomical.alps_L, rel=1e-6)
    position = [0.0, 0.0, 0.0]
    outputs.markups.GetNthControlPointPosition(3, position)  # assoc_R
    outputs.markups.SetNthControlPointPosition(3, position[0], position[1] + 4.0, position[2])
    moved = logic.recompute(outputs)
    assert moved.anatomical.alps_L == pytest.approx(result.anatomical.alps_L, rel=1e-6)
    assert moved.anatomical.rois["assoc_R"] != result.anatomical.rois["assoc_R"]
    assert rows_from_table(outputs.table)[0]["Right"] == pytest.approx(moved.index.alps_R)
    # a reopened scene: only the nodes are left, the state lives on the markups node
    reopened = AlpsOutputs(markups=outputs.markups, tensor=outputs.tensor, table=outputs.table)
    assert logic.recompute(reopened).anatomical.alps_R == pytest.approx(moved.anatomical.alps_R, rel=1e-9)
    outputs.markups.SetNthControlPointPosition(3, *position)


def test_placement_from_an_existing_markups_node(module_run):
    scene, logic, node, result, _outputs = module_run
    markups = rois_to_markups_node(result.rois, scene, "my rois")
    manual, _ = logic.run(node, AlpsOptions(placement="markups", frame="anatomical"), markups_node=markups)
    assert manual.placement == "manual"
    assert manual.anatomical.alps == pytest.approx(result.anatomical.alps, rel=1e-6)


def test_bad_inputs_are_clear_errors(module_run):
    scene, logic, node, _, outputs = module_run
    with pytest.raises(GlymphError, match="select an input"):
        logic.read_inputs(None, AlpsOptions())
    with pytest.raises(GlymphError, match="neither a DWI nor a DTI"):
        logic.read_inputs(outputs.fa, AlpsOptions())
    mask = volume_to_node(Volume(np.ones((3, 3, 3), np.float32), np.eye(4)), scene, "small mask")
    with pytest.raises(GlymphError, match="another grid"):
        logic.read_inputs(node, AlpsOptions(), mask_node=mask)
    with pytest.raises(GlymphError, match="needs a point list"):
        logic.read_inputs(node, AlpsOptions(placement="markups"))
    incomplete = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "incomplete")
    incomplete.AddControlPoint(0.0, 0.0, 0.0, "proj_L")
    with pytest.raises(GlymphError, match="lacks the point"):
        logic.read_inputs(node, AlpsOptions(placement="markups"), markups_node=incomplete)
    with pytest.raises(GlymphError, match="run ALPS once"):
        logic.recompute(AlpsOutputs())


def test_batch_script_writes_the_same_files_as_the_cli(noisy_phantom_files, cli_result, tmp_path):
    _, (image, _, _) = noisy_phantom_files
    out = tmp_path / "batch"
    done = run_batch_script(BATCH, image, "--out", str(out), "--frame", "anatomical", "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["alps.csv", "alps.json", "rois.mrk.json", "rois.nii.gz", "tensor.nii.gz", "fa.nii.gz", "qc_alps.png"]
    )
    row = csv_row(out / "alps.csv")
    for column in COLUMNS:
        assert float(row[column]) == pytest.approx(cli_result["anatomical"][column], rel=1e-6), column


def test_batch_script_fails_cleanly(tmp_path):
    done = run_batch_script(BATCH, str(tmp_path / "none.nii.gz"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("(check the path)") and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_result_folder_loads_into_nodes(noisy_alps_run):
    """What a panel does after running `glymph alps` in its own process: read the folder back and
    show it in nodes; the table holds the index the command wrote."""
    from glymph.alps import read_alps

    _, out, _ = noisy_alps_run
    scene = slicer.vtkMRMLScene()
    outputs = AlpsNodeLogic(scene).show(read_alps(out))
    written = json.loads((out / "alps.json").read_text())["alps"]["anatomical"]
    row = rows_from_table(outputs.table)[0]
    assert row["Left"] == pytest.approx(written["alps_L"], rel=1e-6) and row["Right"] == pytest.approx(
        written["alps_R"], rel=1e-6
    )
    assert outputs.markups.GetNumberOfControlPoints() == 4


def test_panel_runs_the_command_in_its_own_process_and_loads_its_folder(module_run, tmp_path):
    """Progress arrives as it comes, the result folder is read back into the same nodes, and the
    numbers are those of the run in Slicer's process."""
    _, logic, node, in_process, _ = module_run
    options = AlpsOptions(frame="anatomical", subject="dwi")
    task = logic.start_process(logic.read_inputs(node, options), options, tmp_path / "work")
    seen = poll_task(task)
    assert task.error is None, task.error
    assert any("affine registration" in line for line in seen) and any("writing results" in line for line in seen)
    outputs = logic.show(task.result, None, node)
    assert rows_from_table(outputs.table)[0]["Left"] == pytest.approx(in_process.anatomical.alps_L, rel=1e-6)
    assert task.result.anatomical.alps_R == pytest.approx(in_process.anatomical.alps_R, rel=1e-6)
    assert outputs.markups.GetNumberOfControlPoints() == 4


def test_panel_process_cancel_and_errors(module_run, tmp_path):
    _, logic, node, _, _ = module_run
    options = AlpsOptions()
    held = held_python(tmp_path, "affine registration")
    task = logic.start_process(logic.read_inputs(node, options), options, tmp_path / "cancelled", python=held)
    cancel_when(task, "affine registration")
    assert (str(task.error), task.process.returncode) == ("cancelled", 130), task.process._stderr
    assert not (tmp_path / "cancelled" / "result").exists()
    bad = AlpsOptions(placement="detector", model_dir=str(tmp_path / "no such folder"))
    task = logic.start_process(logic.read_inputs(node, bad), bad, tmp_path / "failed")
    poll_task(task)
    assert (
        isinstance(task.error, GlymphError)
        and "--model-dir" in str(task.error)
        and "is not a folder" in str(task.error)
    )
    assert task.result is None and not (tmp_path / "failed" / "result").exists()


def test_install_plan_adds_onnx_runtime_only_for_the_detector():
    from ALPSLib.logic import install_plan

    atlas, detector = install_plan("atlas"), install_plan("detector")
    assert [p.name for p in atlas] == ["requirements.txt"]
    assert [p.name for p in detector] == ["requirements.txt", "requirements-detector.txt"]
    assert "onnxruntime" in detector[1].read_text() and "torch" not in detector[1].read_text().split("#")[-1]

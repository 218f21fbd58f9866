"""The Vein module's logic (VeinLib) on real MRML nodes, and its headless batch script."""

from __future__ import annotations

import csv

import pytest
from conftest import ROOT, cancel_when, held_python, poll_task, require_module, run_batch_script

slicer = require_module("slicer", module_level=True)

from VeinLib import VeinNodeLogic, VeinOptions, VeinOutputs, centreline_curves, install_plan  # noqa: E402

from glymph.errors import GlymphError  # noqa: E402
from glymph.image_io import read_volume, write_nifti  # noqa: E402
from glymph_mrml import rows_from_table, volume_to_node  # noqa: E402

BATCH = ROOT / "VeinModule" / "Resources" / "Scripts" / "vein_batch.py"


@pytest.fixture(scope="module")
def files(swi_seed3, tmp_path_factory):
    """The phantom's SWI as a NIfTI file, and the backend's result on that file (read back: NIfTI
    keeps the affine in single precision) written as `glymph vein` writes it."""
    from glymph.vein import run_vein, write_vein

    folder = tmp_path_factory.mktemp("vein_module")
    write_nifti(swi_seed3.swi, folder / "swi.nii.gz")
    write_vein(run_vein(read_volume(folder / "swi.nii.gz"), subject="swi"), folder / "cli")
    return folder


def hemispheres(path) -> dict[str, dict[str, str]]:
    with open(path) as f:
        return {row["hemisphere"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def module_run(files):
    scene = slicer.vtkMRMLScene()
    swi = volume_to_node(read_volume(files / "swi.nii.gz"), scene, "swi")
    result, outputs = VeinNodeLogic(scene).run(swi, VeinOptions())
    return scene, swi, result, outputs


def test_module_logic_matches_the_backend(files, module_run):
    _, _, result, _ = module_run
    cli = hemispheres(files / "cli" / "vein.csv")
    for row in result.hemisphere_rows():
        assert int(cli[row["hemisphere"]]["count"]) == row["count"]
        assert float(cli[row["hemisphere"]]["diameter_mm"]) == pytest.approx(row["diameter_mm"])
        assert float(cli[row["hemisphere"]]["tortuosity"]) == pytest.approx(row["tortuosity"])


def test_nodes_curves_and_tables(module_run):
    _, _, result, outputs = module_run
    assert outputs.minip.GetImageData().GetDimensions()[2] == 1
    names = [f"{v.hemisphere} {v.id}" for v in result.veins]
    assert [curve.GetName() for curve in outputs.curves] == names
    segmentation = outputs.segmentation.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())] == names
    for curve, vein in zip(outputs.curves, result.veins, strict=True):
        assert curve.GetCurveLengthWorld() == pytest.approx(vein.length_mm, rel=0.03)  # ~30 control points on the trunk
        position = [0.0, 0.0, 0.0]
        curve.GetNthControlPointPosition(0, position)
        assert position[2] == pytest.approx(result.level_z_mm)
    assert [row["hemisphere"] for row in rows_from_table(outputs.hemisphere_table)] == ["left", "right"]
    assert len(rows_from_table(outputs.vein_table)) == len(result.veins)


def test_rerun_replaces_the_curves(module_run):
    scene, swi, _, outputs = module_run
    before = scene.GetNumberOfNodesByClass("vtkMRMLMarkupsCurveNode")
    result, again = VeinNodeLogic(scene).run(swi, VeinOptions(), outputs=outputs)
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsCurveNode") == before == len(result.veins)
    assert again.segmentation is outputs.segmentation


def test_curves_belong_to_the_segmentation_in_the_saved_scene(module_run):
    """The curves are node references of the vein segmentation: a saved and reopened scene still
    knows them, and a rerun given only the segmentation (what the parameter node holds) replaces
    them instead of leaving the old ones behind."""
    scene, swi, result, outputs = module_run
    scene.SetSaveToXMLString(1)
    scene.Commit()
    reopened = slicer.vtkMRMLScene()
    reopened.SetLoadFromXMLString(1)
    reopened.SetSceneXMLString(scene.GetSceneXMLString())
    reopened.Import()
    segmentation = reopened.GetNodeByID(outputs.segmentation.GetID())
    assert [c.GetName() for c in centreline_curves(segmentation)] == [f"{v.hemisphere} {v.id}" for v in result.veins]
    kept = VeinOutputs(outputs.minip, outputs.segmentation, outputs.hemisphere_table, outputs.vein_table)
    again, replaced = VeinNodeLogic(scene).run(swi, VeinOptions(), outputs=kept)
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsCurveNode") == len(again.veins)
    assert centreline_curves(outputs.segmentation) == replaced.curves


def test_bad_inputs(module_run):
    scene, swi, _, _ = module_run
    logic = VeinNodeLogic(scene)
    with pytest.raises(GlymphError, match="select an SWI"):
        logic.read_inputs(None, VeinOptions())
    with pytest.raises(GlymphError, match="lies outside the image"):
        logic.compute(logic.read_inputs(swi, VeinOptions()), VeinOptions(slab_center_mm=500.0))


def test_panel_runs_the_command_in_its_own_process_and_loads_its_folder(module_run, tmp_path):
    """What the panel does for a method that runs a network: progress as it comes, the result
    folder read back into nodes (curves included) with the numbers of the run in Slicer's process,
    the scratch folder removed."""
    scene, swi, in_process, _ = module_run
    logic, options = VeinNodeLogic(scene), VeinOptions(subject="swi")
    task = logic.start_process(logic.read_inputs(swi, options), options, tmp_path / "work", scratch=True)
    seen = poll_task(task)
    assert task.error is None, task.error
    assert [any(step in line for line in seen) for step in ("MinIP", "vein morphometry")] == [True, True]
    assert not (tmp_path / "work").exists()
    outputs = logic.show(task.result)
    shown = rows_from_table(outputs.hemisphere_table)
    for row, expected in zip(shown, in_process.hemisphere_rows(), strict=True):
        assert row["count"] == expected["count"] and row["hemisphere"] == expected["hemisphere"]
        assert [row[key] for key in ("diameter_mm", "tortuosity", "length_mm")] == pytest.approx(
            [expected[key] for key in ("diameter_mm", "tortuosity", "length_mm")]
        )
    assert [curve.GetName() for curve in outputs.curves] == [f"{v.hemisphere} {v.id}" for v in in_process.veins]
    for curve, vein in zip(outputs.curves, in_process.veins, strict=True):
        assert curve.GetCurveLengthWorld() == pytest.approx(vein.length_mm, rel=0.03)


def test_panel_process_cancel_and_errors(module_run, tmp_path):
    scene, swi, _, _ = module_run
    logic, options = VeinNodeLogic(scene), VeinOptions()
    held = held_python(tmp_path, "reslicing to axial")  # the command takes only seconds
    task = logic.start_process(logic.read_inputs(swi, options), options, tmp_path / "cancelled", python=held)
    cancel_when(task, "reslicing to axial")
    assert (str(task.error), task.process.returncode) == ("cancelled", 130)
    assert not (tmp_path / "cancelled" / "result").exists()
    outside = VeinOptions(slab_center_mm=500.0)
    task = logic.start_process(logic.read_inputs(swi, outside), outside, tmp_path / "failed", scratch=True)
    poll_task(task)
    assert isinstance(task.error, GlymphError) and "lies outside the image" in str(task.error)
    assert task.result is None and not (tmp_path / "failed").exists()


def test_panel_runs_the_learned_method_in_its_own_process(module_run, files, tmp_path):
    """Method "learned" with the test-time mirror, as the panel runs it: a `glymph vein --method
    learned --flips` process with the shipped network, read back with the network recorded; the
    same numbers as the module logic in this process."""
    require_module("onnxruntime")
    scene, swi, _, _ = module_run
    logic, options = VeinNodeLogic(scene), VeinOptions(subject="swi", method="learned", flips=True)
    task = logic.start_process(logic.read_inputs(swi, options), options, tmp_path / "work", scratch=True)
    poll_task(task)
    assert task.error is None, task.error
    assert task.result.method == "learned" and task.result.network["name"] == "vein-deeplab"
    here = logic.compute(logic.read_inputs(swi, options), options)
    assert [r["count"] for r in task.result.hemisphere_rows()] == [r["count"] for r in here.hemisphere_rows()]
    outputs = logic.show(task.result)
    assert len(outputs.curves) == len(here.veins) > 0


def test_install_plan_adds_onnx_runtime_only_for_the_learned_method():
    def packages(plan) -> set[str]:
        lines = [line for path in plan for line in path.read_text().splitlines()]
        return {line.split(">")[0].strip() for line in lines if line.strip() and not line.startswith("#")}

    assert [path.name for path in install_plan("classical")] == ["requirements.txt"]
    learned = install_plan("learned")
    assert "onnxruntime" in packages(learned) and "torch" not in packages(learned)


def test_batch_script_writes_the_same_files_as_the_cli(files):
    out = files / "batch"
    done = run_batch_script(BATCH, str(files / "swi.nii.gz"), "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (files / "cli").iterdir())
    assert hemispheres(out / "vein.csv") == hemispheres(files / "cli" / "vein.csv")


def test_batch_script_fails_cleanly(tmp_path):
    done = run_batch_script(BATCH, str(tmp_path / "none.nii.gz"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "SWI not found" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()

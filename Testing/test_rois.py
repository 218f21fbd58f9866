"""ROI sets against the real JHU atlas, sphere voxel selection, Slicer markups files."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from conftest import AAL_LABELS, JHU_LABELS, require_file, require_module

from glymph.alps.markups import read_markups, write_markups
from glymph.alps.rois import LABELS, RoiSet, builtin_roi_set, sphere_masks
from glymph.defaults import ROI_SETS
from glymph.errors import GlymphError
from glymph.volume import Volume

EXPECTED_TRACT = {"proj": "Superior_corona_radiata", "assoc": "Superior_longitudinal_fasciculus"}
JHU_X_ROW = [-1.0, 0.0, 0.0, 90.0]  # FSL's JHU-ICBM-labels-1mm header; Debian's file says [1, 0, 0, -91]


def label_names(path) -> dict[int, str]:
    """mricron's label list beside an atlas (``aal.nii.txt``: number, name; JHU's: tab separated)."""
    rows = path.with_name(path.name.replace(".gz", ".txt")).read_text().strip().splitlines()
    return {int(row.split()[0]): row.split()[1] for row in rows}


@pytest.mark.parametrize(("header", "same_side"), [("debian", 0.0), ("fixed", 1.0)])
def test_the_debian_jhu_header_is_mirrored_against_aal(header, same_side):
    """Every lateralised JHU label (name ending _L or _R) is mapped to world space and looked up
    in AAL (whose header places its _L regions at x < 0, the MNI convention): with Debian's header
    none of ~28,000 such voxels lands on its own side, with the corrected x row all do."""
    jhu, aal = nib.load(require_file(JHU_LABELS)), nib.load(require_file(AAL_LABELS))
    jhu_names, aal_names = label_names(JHU_LABELS), label_names(AAL_LABELS)
    affine = jhu.affine.copy()
    if header == "fixed":
        affine[0] = JHU_X_ROW
    labels = np.asarray(jhu.dataobj)
    ijk = np.argwhere(labels > 0)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    to_aal = np.linalg.inv(aal.affine)
    in_aal = np.rint(world @ to_aal[:3, :3].T + to_aal[:3, 3]).astype(int)
    aal_labels = np.asarray(aal.dataobj)[tuple(np.clip(in_aal, 0, np.array(aal.shape) - 1).T)]
    jhu_side = np.array([jhu_names[int(v)][-2:] for v in labels[tuple(ijk.T)]])
    aal_side = np.array([aal_names.get(int(v), "")[-2:] for v in aal_labels])
    both = np.isin(jhu_side, ["_L", "_R"]) & np.isin(aal_side, ["_L", "_R"])
    assert both.sum() > 20000
    assert (jhu_side[both] == aal_side[both]).mean() == same_side


@pytest.mark.parametrize("name", sorted(ROI_SETS))
def test_roi_centres_lie_in_the_right_tract_and_hemisphere_of_the_jhu_atlas(name):
    """The JHU labels name their hemisphere: this checks both the tract and the x > 0 = right convention."""
    path = require_file(JHU_LABELS)
    image = nib.load(path)
    affine = image.affine.copy()
    affine[0] = JHU_X_ROW  # the Debian file's x row is mirrored (docs/reference-data.md)
    labels = np.asarray(image.dataobj)
    names = {str(number): name for number, name in label_names(path).items()}
    to_voxel = np.linalg.inv(affine)
    for label, centre in ROI_SETS[name].items():
        kind, hemisphere = label.split("_")
        i, j, k = np.rint(to_voxel[:3, :3] @ centre + to_voxel[:3, 3]).astype(int)
        assert names[str(labels[i, j, k])] == f"{EXPECTED_TRACT[kind]}_{hemisphere}", (name, label)


def test_chen2025_hemispheres_follow_the_sign_of_x():
    rois = builtin_roi_set("chen2025")
    assert rois.centres["proj_R"] == (24.0, -12.0, 24.0)  # the paper's "left" projection ROI
    assert all(rois.centres[f"{k}_L"][0] < 0 < rois.centres[f"{k}_R"][0] for k in ("proj", "assoc"))


def test_sphere_holds_the_voxel_centres_within_the_radius():
    grid = Volume(np.zeros((30, 30, 30), np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    centres = {
        "proj_L": (10.0, 10.0, 10.0),
        "proj_R": (20.0, 10.0, 10.0),
        "assoc_L": (10.3, 20.0, 10.0),
        "assoc_R": (20.0, 20.5, 10.5),
    }
    masks = sphere_masks(RoiSet(centres, 5.0), grid)
    offsets = np.arange(-3, 4)
    # hand count: integer points with squared distance <= 2.5^2 from the centre
    on_voxel = sum(1 for a in offsets for b in offsets for c in offsets if a * a + b * b + c * c <= 6.25)
    assert on_voxel == 81
    assert masks["proj_L"].sum() == 81 and masks["proj_R"].sum() == 81
    half = sum(1 for a in offsets for b in offsets for c in offsets if a * a + (b - 0.5) ** 2 + (c - 0.5) ** 2 <= 6.25)
    assert masks["assoc_R"].sum() == half
    assert masks["proj_L"][10, 10, 10] and not masks["proj_L"][13, 10, 10]


def test_rois_outside_the_field_of_view_or_brain_or_too_small_are_errors():
    grid = Volume(np.zeros((20, 20, 20), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    inside = {label: (10.0 + 4 * n, 10.0, 10.0) for n, label in enumerate(LABELS)}
    with pytest.raises(GlymphError, match=r"assoc_R .* outside the image field of view"):
        sphere_masks(RoiSet({**inside, "assoc_R": (100.0, 10.0, 10.0)}, 5.0), grid)
    brain = np.zeros(grid.shape, bool)
    brain[:, :, 10:] = True
    with pytest.raises(GlymphError, match="outside the brain mask"):
        sphere_masks(RoiSet(inside, 5.0), grid, brain)
    with pytest.raises(GlymphError, match="no voxel centre"):
        sphere_masks(RoiSet({k: (v[0] + 1.0, 11.0, 11.0) for k, v in inside.items()}, 1.0), grid)


def test_markups_round_trip_and_open_in_slicer(tmp_path):
    rois = RoiSet(
        {
            "proj_L": (-28.5, -12.0, 24.0),
            "proj_R": (24.0, -12.25, 24.0),
            "assoc_L": (-40.0, -12.0, 23.0),
            "assoc_R": (36.0, -11.0, 24.0),
        },
        5.0,
    )
    path = tmp_path / "rois.mrk.json"
    write_markups(rois, path)
    assert read_markups(path, 5.0).centres == rois.centres
    slicer = require_module("slicer")
    scene = slicer.vtkMRMLScene()
    node = slicer.vtkMRMLMarkupsFiducialNode()
    scene.AddNode(node)
    storage = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    assert node.GetNumberOfControlPoints() == 4
    for n in range(4):
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(n, position)  # RAS
        assert tuple(position) == pytest.approx(rois.centres[node.GetNthControlPointLabel(n)])


def test_markups_written_by_slicer_in_ras_are_read(tmp_path):
    slicer = require_module("slicer")
    scene = slicer.vtkMRMLScene()
    node = slicer.vtkMRMLMarkupsFiducialNode()
    scene.AddNode(node)
    expected = {
        "proj_L": (-27.0, -13.0, 25.0),
        "proj_R": (25.0, -13.0, 25.0),
        "assoc_L": (-39.0, -13.0, 25.0),
        "assoc_R": (37.0, -13.0, 25.0),
    }
    for label, p in expected.items():
        node.AddControlPoint(*p, label)
    storage = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(storage)
    storage.SetCoordinateSystem(0)  # RAS
    storage.SetFileName(str(tmp_path / "ras.mrk.json"))
    assert storage.WriteData(node) == 1
    assert json.loads((tmp_path / "ras.mrk.json").read_text())["markups"][0]["coordinateSystem"] == "RAS"
    centres = read_markups(tmp_path / "ras.mrk.json", 5.0).centres
    for label, p in expected.items():
        assert centres[label] == pytest.approx(p)


def test_bad_markups_files_are_clear_errors(tmp_path):
    rois = RoiSet({label: (float(n), 0.0, 0.0) for n, label in enumerate(LABELS)}, 5.0)
    write_markups(rois, tmp_path / "ok.mrk.json")
    document = json.loads((tmp_path / "ok.mrk.json").read_text())
    missing = json.loads(json.dumps(document))
    missing["markups"][0]["controlPoints"].pop(2)
    (tmp_path / "missing.mrk.json").write_text(json.dumps(missing))
    with pytest.raises(GlymphError, match="lacks the point\\(s\\) assoc_L"):
        read_markups(tmp_path / "missing.mrk.json", 5.0)
    twice = json.loads(json.dumps(document))
    twice["markups"][0]["controlPoints"][1]["label"] = "proj_L"
    (tmp_path / "twice.mrk.json").write_text(json.dumps(twice))
    with pytest.raises(GlymphError, match="lacks the point\\(s\\) proj_R"):
        read_markups(tmp_path / "twice.mrk.json", 5.0)
    twice["markups"][0]["controlPoints"].append({**twice["markups"][0]["controlPoints"][1], "label": "proj_R"})
    (tmp_path / "twice.mrk.json").write_text(json.dumps(twice))
    with pytest.raises(GlymphError, match="more than one point labelled proj_L"):
        read_markups(tmp_path / "twice.mrk.json", 5.0)
    (tmp_path / "junk.mrk.json").write_text("{not json")
    with pytest.raises(GlymphError, match="not a Slicer markups JSON"):
        read_markups(tmp_path / "junk.mrk.json", 5.0)

"""glymph_mrml under real MRML classes (the slicer-core wheel): volumes, DWI/DTI nodes, markups, tables, segmentations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_module

slicer = require_module("slicer", module_level=True)
vtk = require_module("vtk", module_level=True)

from glymph.alps.markups import read_markups, write_markups  # noqa: E402
from glymph.alps.rois import RoiSet  # noqa: E402
from glymph.dti import fit_dti  # noqa: E402
from glymph.dti.dwi import read_dwi  # noqa: E402
from glymph.dti.tensor import from_matrix, to_matrix  # noqa: E402
from glymph.phantoms import alps_phantom, rotation_matrix  # noqa: E402
from glymph.volume import Volume  # noqa: E402
from glymph_mrml import (  # noqa: E402
    dti_maps_with_slicer,
    dwi_from_node,
    dwi_to_node,
    labelmap_to_segmentation,
    rois_from_markups_node,
    rois_to_markups_node,
    rows_from_table,
    segmentation_to_labelmap,
    table_from_rows,
    tensor_from_node,
    tensor_to_node,
    volume_from_node,
    volume_to_node,
)
from glymph_mrml.volumes import numpy_to_matrix  # noqa: E402

OBLIQUE = np.array([[0.0, 0.2, -2.0, 40.0], [2.5, 0.0, 0.1, -60.0], [0.0, 3.0, 0.0, 10.0], [0, 0, 0, 1]])


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


@pytest.fixture(scope="module")
def small_phantom():
    return alps_phantom(voxel_mm=4.0, n_directions=12, snr=np.inf, grid_rotation_deg=(10.0, 0.0, -5.0))


def test_scalar_and_vector_volumes_round_trip(scene):
    data = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    node = volume_to_node(Volume(data, OBLIQUE), scene, "scalar")
    back = volume_from_node(node)
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_allclose(back.affine, OBLIQUE)
    # voxel (1, 2, 3) of the node is where the affine says, by Slicer's own IJK-to-RAS
    ras = [0.0, 0.0, 0.0, 1.0]
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    matrix.MultiplyPoint([1, 2, 3, 1], ras)
    np.testing.assert_allclose(ras[:3], (OBLIQUE @ [1, 2, 3, 1])[:3])
    rgb = np.random.default_rng(1).random((4, 5, 6, 3)).astype(np.float32)
    vector = volume_to_node(Volume(rgb, OBLIQUE), scene, "rgb", class_name="vtkMRMLVectorVolumeNode")
    np.testing.assert_array_equal(volume_from_node(vector).data, rgb)


def test_dwi_node_round_trip_and_measurement_frame(scene, small_phantom):
    dwi = small_phantom.dwi
    node = dwi_to_node(dwi, scene, "dwi")
    back = dwi_from_node(node)
    np.testing.assert_array_equal(back.data, dwi.data)
    np.testing.assert_allclose(back.bvecs, dwi.bvecs, atol=1e-12)
    np.testing.assert_allclose(back.bvals, dwi.bvals)
    # the same gradients stored in a rotated measurement frame give the same RAS directions
    frame = rotation_matrix((0.0, 30.0, 70.0))
    rotated = np.eye(4)
    rotated[:3, :3] = frame
    node.SetMeasurementFrameMatrix(numpy_to_matrix(rotated))
    for n, g in enumerate(dwi.bvecs):
        node.SetDiffusionGradient(n, frame.T @ g)
    np.testing.assert_allclose(dwi_from_node(node).bvecs, dwi.bvecs, atol=1e-12)


def test_dti_node_round_trip_and_measurement_frame(scene):
    r = rotation_matrix((10.0, 20.0, 30.0))
    tensor = from_matrix(np.broadcast_to(r @ np.diag([1.7e-3, 0.4e-3, 0.2e-3]) @ r.T, (3, 4, 5, 3, 3))).astype(
        np.float32
    )
    node = tensor_to_node(Volume(tensor, OBLIQUE), scene, "dti")
    np.testing.assert_allclose(tensor_from_node(node).data, tensor, atol=1e-10)
    # tensors stored in a measurement frame M come back as M D M^T
    frame = rotation_matrix((0.0, 0.0, 90.0))
    m = np.eye(4)
    m[:3, :3] = frame
    node.SetMeasurementFrameMatrix(numpy_to_matrix(m))
    expected = frame @ to_matrix(tensor[0, 0, 0].astype(np.float64)) @ frame.T
    np.testing.assert_allclose(to_matrix(tensor_from_node(node).data[0, 0, 0].astype(np.float64)), expected, atol=1e-10)


def test_nrrd_dwi_written_by_slicer_reads_back_with_the_same_gradients(scene, small_phantom, tmp_path):
    """Slicer's NRRD storage node writes the DWI node; Slicer reads it back; glymph reads both."""
    node = dwi_to_node(small_phantom.dwi, scene, "dwi")
    frame = rotation_matrix((0.0, 0.0, 90.0))
    m = np.eye(4)
    m[:3, :3] = frame
    node.SetMeasurementFrameMatrix(numpy_to_matrix(m))
    for n, g in enumerate(small_phantom.dwi.bvecs):
        node.SetDiffusionGradient(n, frame.T @ g)
    storage = slicer.vtkMRMLNRRDStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "dwi.nrrd"))
    assert storage.WriteData(node) == 1
    reloaded = scene.AddNewNodeByClass("vtkMRMLDiffusionWeightedVolumeNode", "reloaded")
    assert storage.ReadData(reloaded) == 1
    from_slicer = dwi_from_node(reloaded)
    from_file = read_dwi(tmp_path / "dwi.nrrd")
    for dwi in (from_slicer, from_file):
        np.testing.assert_allclose(dwi.bvecs, small_phantom.dwi.bvecs, atol=1e-6)
        np.testing.assert_allclose(dwi.bvals, small_phantom.dwi.bvals, atol=1e-3)
        np.testing.assert_allclose(dwi.affine, small_phantom.dwi.affine, atol=1e-5)
        np.testing.assert_allclose(dwi.data, small_phantom.dwi.data, rtol=1e-6)


def test_fa_and_colour_from_slicer_tensor_maths_match_glymph(clean_phantom):
    dti = fit_dti(clean_phantom.dwi)
    fa, colour = dti_maps_with_slicer(dti.tensor)
    # positive-definite tensors of tissue; the mask's background voxels hold zero tensors (about 1e-17), whose FA is noise
    inside = dti.fit.mask & (dti.fit.evals[..., 2] > 0) & (dti.fit.md() > 1e-5)
    np.testing.assert_allclose(fa.data[inside], dti.fit.fa()[inside], atol=1e-5)
    # Slicer's colour by orientation: |principal eigenvector| x linear anisotropy (l1 - l2) / l1, in 8-bit steps
    evals = dti.fit.evals[inside]
    linear = (evals[:, 0] - evals[:, 1]) / evals[:, 0]
    expected = np.abs(dti.fit.evecs[inside][:, :, 0]) * linear[:, None]
    np.testing.assert_allclose(colour.data[inside], expected, atol=1.01 / 255)


def test_markups_round_trip_through_slicer_json_storage(scene, tmp_path):
    rois = RoiSet(
        {
            "proj_L": (-28.2, -12.0, 24.0),
            "proj_R": (24.0, -12.5, 24.0),
            "assoc_L": (-40.0, -12.0, 24.5),
            "assoc_R": (36.0, -11.0, 23.0),
        },
        4.0,
    )
    node = rois_to_markups_node(rois, scene, "rois")
    assert node.GetDisplayNode().GetGlyphSize() == 4.0 and not node.GetDisplayNode().GetUseGlyphScale()
    storage = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "slicer.mrk.json"))
    assert storage.WriteData(node) == 1
    written_by_slicer = read_markups(tmp_path / "slicer.mrk.json", 4.0)
    for label, centre in rois.centres.items():
        assert written_by_slicer.centres[label] == pytest.approx(centre)
    write_markups(rois, tmp_path / "glymph.mrk.json")
    loaded = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "loaded")
    storage.SetFileName(str(tmp_path / "glymph.mrk.json"))
    assert storage.ReadData(loaded) == 1
    back = rois_from_markups_node(loaded, 4.0)
    for label, centre in rois.centres.items():
        assert back.centres[label] == pytest.approx(centre)
    assert rois_from_markups_node(node).diameter_mm == 4.0  # stored on the node


def test_markups_node_missing_a_label_is_an_error(scene):
    from glymph.errors import GlymphError

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "incomplete")
    node.AddControlPoint(1.0, 2.0, 3.0, "proj_L")
    with pytest.raises(GlymphError, match="lacks the point"):
        rois_from_markups_node(node)


def test_table_and_segmentation(scene):
    rows = [
        {"Measure": "ALPS", "Left": 1.3, "Right": 1.6, "Voxels": 7},
        {"Measure": "FA", "Left": 0.7, "Right": 0.6, "Voxels": 8},
    ]
    table = table_from_rows(rows, scene, "results")
    assert rows_from_table(table) == rows
    labels = np.zeros((12, 12, 12), np.uint8)
    labels[2:5, 2:5, 2:5] = 1
    labels[7:10, 6:11, 7:9] = 2
    volume = Volume(labels, OBLIQUE)
    segmentation = labelmap_to_segmentation(volume, {1: "EPVS", 2: "basal ganglia"}, scene, "seg", {1: (1.0, 1.0, 0.0)})
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    assert segmentation.GetSegmentation().GetSegment(
        segmentation.GetSegmentation().GetSegmentIdBySegmentName("EPVS")
    ).GetColor() == (1.0, 1.0, 0.0)
    np.testing.assert_array_equal(
        segmentation_to_labelmap(segmentation, volume, ["EPVS", "basal ganglia"]).data, labels
    )


def test_wrong_node_types_are_clear_errors(scene):
    from glymph.errors import GlymphError

    scalar = volume_to_node(Volume(np.ones((2, 2, 2), np.float32), np.eye(4)), scene, "scalar")
    with pytest.raises(GlymphError, match="diffusion-weighted"):
        dwi_from_node(scalar)
    with pytest.raises(GlymphError, match="diffusion tensor"):
        tensor_from_node(scalar)

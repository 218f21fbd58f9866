"""Reading DWIs: FSL b-vector convention against MRtrix3, storage orders, NRRD as Slicer writes it."""

from __future__ import annotations

import subprocess

import nrrd
import numpy as np
import pytest
from conftest import require_module, require_tool

from glymph.dti.dwi import read_dwi
from glymph.dti.gradients import fsl_to_world, world_to_fsl
from glymph.errors import GlymphError
from glymph.phantoms import alps_phantom, write_fsl

STORAGES = ("RAS", "LAS", "PSR", "ILA")


@pytest.fixture(scope="module")
def oblique_phantom():
    """A small noise-free phantom acquired on an oblique grid (rotated 12, -7, 5 degrees)."""
    return alps_phantom(voxel_mm=4.0, n_directions=12, snr=np.inf, grid_rotation_deg=(12.0, -7.0, 5.0))


@pytest.mark.parametrize("storage", STORAGES)
def test_fsl_gradients_match_mrtrix(oblique_phantom, storage, tmp_path):
    """MRtrix3 converts FSL bvecs to scanner-frame directions independently of glymph."""
    require_tool("mrconvert")
    image, bval, bvec = write_fsl(oblique_phantom.dwi, str(tmp_path / "dwi.nii.gz"), storage=storage)
    subprocess.run(
        [
            "mrconvert",
            "-quiet",
            "-fslgrad",
            bvec,
            bval,
            image,
            tmp_path / "d.mif",
            "-export_grad_mrtrix",
            tmp_path / "grad.b",
        ],
        check=True,
    )
    mrtrix = np.loadtxt(tmp_path / "grad.b")
    dwi = read_dwi(image)
    weighted = ~dwi.is_b0
    np.testing.assert_allclose(dwi.bvecs[weighted], mrtrix[weighted, :3], atol=1e-6)
    np.testing.assert_allclose(dwi.bvecs, oblique_phantom.dwi.bvecs, atol=1e-6)


def test_fsl_conversion_round_trips_and_flips_x_for_positive_determinant():
    g = np.array([[0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    ras = np.diag([2.0, 2.0, 2.0, 1.0])
    las = np.diag([-2.0, 2.0, 2.0, 1.0])
    # det > 0 (RAS storage): FSL flips x; det < 0 (LAS): voxel i runs to the left, so again -x
    np.testing.assert_allclose(world_to_fsl(g, ras), [[-0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    np.testing.assert_allclose(world_to_fsl(g, las), [[-0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    np.testing.assert_allclose(fsl_to_world(world_to_fsl(g, las), las), g)


def test_real_dipy_data_with_nan_b0_vector(small_64d):
    dwi = read_dwi(*small_64d)
    assert dwi.data.shape == (10, 10, 10, 65)
    assert dwi.is_b0.sum() == 1 and np.all(dwi.bvecs[0] == 0)
    np.testing.assert_allclose(np.linalg.norm(dwi.bvecs[1:], axis=1), 1.0, atol=1e-9)


def test_multishell_is_limited_to_max_b_with_a_warning(caplog):
    from glymph.dti.dwi import DWI
    from glymph.volume import Volume

    bvals = np.array([0, 1000, 1000, 2000, 3000.0])
    bvecs = np.r_[np.zeros((1, 3)), np.eye(3)[:2], np.eye(3)[:2]]
    dwi = DWI(Volume(np.ones((2, 2, 2, 5), np.float32), np.eye(4)), bvals, bvecs)
    with caplog.at_level("WARNING", logger="glymph"):
        kept = dwi.up_to_b(1500)
    assert kept.bvals.tolist() == [0, 1000, 1000]
    assert "b = 2000, 3000" in caplog.text


def _slicer_nrrd(dwi, path, frame: np.ndarray) -> None:
    """Write a DWI with Slicer's own NRRD writer (slicer-core), gradients in a rotated measurement frame."""
    slicer = require_module("slicer")
    import vtk
    from vtk.util import numpy_support

    scene = slicer.vtkMRMLScene()
    node = slicer.vtkMRMLDiffusionWeightedVolumeNode()
    scene.AddNode(node)
    data = dwi.data  # (I, J, K, N); VTK wants x fastest, components last
    image = vtk.vtkImageData()
    image.SetDimensions(*data.shape[:3])
    image.AllocateScalars(vtk.VTK_FLOAT, data.shape[3])
    flat = np.ascontiguousarray(data.transpose(2, 1, 0, 3)).reshape(-1, data.shape[3])
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(flat, deep=True))
    node.SetAndObserveImageData(image)
    matrix = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            matrix.SetElement(i, j, dwi.affine[i, j])
    node.SetIJKToRASMatrix(matrix)
    mf = vtk.vtkMatrix4x4()
    for i in range(3):
        for j in range(3):
            mf.SetElement(i, j, frame[i, j])
    node.SetMeasurementFrameMatrix(mf)
    node.SetNumberOfGradients(data.shape[3])
    for n in range(data.shape[3]):
        node.SetDiffusionGradient(n, frame.T @ dwi.bvecs[n])  # measurement-frame components
        node.SetBValue(n, float(dwi.bvals[n]))
    storage = slicer.vtkMRMLNRRDStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.WriteData(node) == 1


def test_nrrd_written_by_slicer_reads_back_with_world_gradients(oblique_phantom, tmp_path):
    frame = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # not symmetric: catches a transposed frame
    _slicer_nrrd(oblique_phantom.dwi, tmp_path / "dwi.nrrd", frame)
    dwi = read_dwi(tmp_path / "dwi.nrrd")
    np.testing.assert_allclose(dwi.affine, oblique_phantom.dwi.affine, atol=1e-5)
    np.testing.assert_allclose(dwi.bvecs, oblique_phantom.dwi.bvecs, atol=1e-6)
    np.testing.assert_allclose(dwi.bvals, oblique_phantom.dwi.bvals, atol=1e-3)
    np.testing.assert_allclose(dwi.data, oblique_phantom.dwi.data, rtol=1e-6)


def test_nrrd_in_lps_space_with_scaled_gradients(tmp_path):
    """A hand-written LPS NRRD: list axis last, b-value encoded in the gradient norm."""
    data = np.random.default_rng(0).uniform(100, 200, (3, 4, 5, 4)).astype(np.float32)
    grads = np.array([[0, 0, 0], [1.0, 0, 0], [0, np.sqrt(0.5), 0], [0, 0, 1.0]])
    header = {
        "space": "left-posterior-superior",
        "kinds": ["domain", "domain", "domain", "list"],
        "space directions": np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0], [np.nan] * 3]),
        "space origin": np.array([10.0, 20.0, 30.0]),
        "measurement frame": np.eye(3),
        "DWMRI_b-value": "1000",
        **{f"DWMRI_gradient_{i:04d}": " ".join(map(str, g)) for i, g in enumerate(grads)},
    }
    nrrd.write(str(tmp_path / "lps.nrrd"), data, header)
    dwi = read_dwi(tmp_path / "lps.nrrd")
    np.testing.assert_allclose(dwi.affine[:3, 3], [-10.0, -20.0, 30.0])
    np.testing.assert_allclose(np.diag(dwi.affine)[:3], [-2.0, -2.0, 3.0])
    np.testing.assert_allclose(dwi.bvals, [0, 1000, 500, 1000])
    np.testing.assert_allclose(dwi.bvecs, [[0, 0, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1]], atol=1e-12)


def test_nrrd_gradients_passed_with_bval_is_an_error(tmp_path, oblique_phantom):
    _slicer_nrrd(oblique_phantom.dwi, tmp_path / "dwi.nrrd", np.eye(3))
    with pytest.raises(GlymphError, match="carries its own gradients"):
        read_dwi(tmp_path / "dwi.nrrd", bval="x.bval")


@pytest.fixture(scope="module")
def three_b0_phantom():
    """A noisy phantom with three b0 volumes (their mean is not exact in float32) first."""
    return alps_phantom(voxel_mm=2.5, n_directions=12, n_b0=3, snr=30.0, seed=4).dwi


def _write_dwi(dwi, path, order: np.ndarray, dtype=np.float32, slope: float | None = None) -> str:
    import nibabel as nib

    data = dwi.data[..., order]
    if np.issubdtype(dtype, np.integer):
        data = np.round(data * 1000.0 / data.max())
    image = nib.Nifti1Image(data.astype(dtype), dwi.affine)
    if slope is not None:
        image.header.set_slope_inter(slope, 0.0)
    nib.save(image, path)
    bvecs = world_to_fsl(dwi.bvecs, dwi.affine)[order]
    np.savetxt(str(path).replace(".nii.gz", ".bval"), dwi.bvals[order][None], fmt="%g")
    np.savetxt(str(path).replace(".nii.gz", ".bvec"), bvecs.T, fmt="%.8f")
    return str(path)


@pytest.mark.parametrize(
    ("case", "dtype", "slope", "b0s_first", "early"),
    [
        ("float32, b0s first", np.float32, None, True, True),
        ("int16, b0s first", np.int16, None, True, True),
        ("b0s last", np.float32, None, False, False),
        ("scaled values", np.int16, 0.5, True, False),
    ],
)
def test_brain_mask_made_while_reading_equals_the_whole_files(
    three_b0_phantom, tmp_path, case, dtype, slope, b0s_first, early
):
    """The mask computed from the first volumes while the rest is decompressed (glymph.prefetch,
    glymph.dti.mask_ahead) is the whole file's, voxel for voxel; files it cannot serve (b0s at
    the end, scaled values) give None and are masked the usual way."""
    from glymph import prefetch
    from glymph.dti.mask_ahead import brain_mask_ahead
    from glymph.masks import brain_mask_from_b0

    dwi = three_b0_phantom
    n = dwi.data.shape[3]
    order = np.arange(n) if b0s_first else np.roll(np.arange(n), -3)
    path = _write_dwi(dwi, tmp_path / "dwi.nii.gz", order, dtype, slope)
    prefetch.read_ahead(path)
    reading = prefetch.ahead(path)
    assert reading is not None
    mask = brain_mask_ahead(reading, path, None, None, 50.0)
    whole = read_dwi(path)  # takes the read-ahead bytes
    assert prefetch.ahead(path) is None
    reference = brain_mask_from_b0(whole.mean_b0())
    if not early:
        assert mask is None
        return
    assert mask is not None and np.allclose(mask.affine, reference.affine)
    assert 1000 < reference.data.sum() < reference.data.size
    np.testing.assert_array_equal(mask.data, reference.data)


def test_dti_command_masks_while_reading_and_matches_the_api(three_b0_phantom, tmp_path, capsys):
    """`glymph dti` on a .nii.gz: the mask made while reading, recorded as the automatic one, and
    the same tensors as the Python API fitting the whole file."""
    import json

    import nibabel as nib

    from glymph.cli import main
    from glymph.dti import fit_dti
    from glymph.dti.pipeline import AUTO_MASK

    path = _write_dwi(three_b0_phantom, tmp_path / "dwi.nii.gz", np.arange(three_b0_phantom.data.shape[3]))
    assert main(["dti", path, "--out", str(tmp_path / "out"), "--no-gradient-check"]) == 0
    assert "brain mask from the b0: made while the DWI was read" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "dti.json").read_text())["dti"]["mask"] == AUTO_MASK
    api = fit_dti(read_dwi(path), gradient_check="off")
    np.testing.assert_array_equal(nib.load(tmp_path / "out" / "mask.nii.gz").get_fdata() > 0, api.fit.mask)
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "out" / "tensor.nii.gz").dataobj), api.fit.tensor)


def test_damaged_gzip_read_ahead_is_reported_as_before(three_b0_phantom, tmp_path):
    from glymph import prefetch

    path = _write_dwi(three_b0_phantom, tmp_path / "dwi.nii.gz", np.arange(three_b0_phantom.data.shape[3]))
    whole = (tmp_path / "dwi.nii.gz").read_bytes()
    (tmp_path / "dwi.nii.gz").write_bytes(whole[: len(whole) // 2])
    prefetch.read_ahead(path)
    with pytest.raises(GlymphError, match="cannot read DWI"):
        read_dwi(path)


def test_a_read_ahead_files_beginning_is_decompressed_on_its_own(tmp_path):
    """``Reading.prefix`` before the whole file is read decompresses the beginning itself: across
    gzip members (as pigz and some scanners write), None past the end or in damaged data."""
    import gzip

    from glymph import prefetch

    first, second = np.random.default_rng(0).bytes(3_000_000), bytes(range(256)) * 8000
    path = tmp_path / "two_members.nii.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    compressed = path.read_bytes()
    whole = first + second
    for size in (10, 3_000_000, 3_100_000, len(whole)):
        assert prefetch._decompressed_beginning(compressed, size) == whole[:size]
    assert prefetch._decompressed_beginning(compressed, len(whole) + 1) is None
    with pytest.raises(Exception):  # noqa: B017 - zlib's error type; Reading.prefix turns it into None
        prefetch._decompressed_beginning(compressed[:100] + b"\x00" * 1000 + compressed[1100:], len(whole))
    reading = prefetch.Reading(path)
    assert reading.prefix(5000) == whole[:5000]
    assert reading.whole() == whole
    assert reading.prefix(len(whole) + 1) is None
    path.write_bytes(compressed[:-100])
    damaged = prefetch.Reading(path)
    assert damaged.whole() is None and damaged.prefix(len(whole)) is None

"""Tensor fitting against analytic signals, dipy's WLS and MRtrix3 dwi2tensor on real data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_tool
from references import dwi2tensor

from glymph.dti.dwi import read_dwi
from glymph.dti.tensor import FSL_ORDER, MRTRIX_ORDER, TensorModel, from_matrix, reorder, rotate, to_matrix
from glymph.phantoms import rotation_matrix
from glymph.phantoms.dwi import gradient_directions


def assert_tensors_agree(ours: np.ndarray, reference: np.ndarray, tolerance: float = 0.01) -> None:
    """All six components (N, 6) within ``tolerance`` of each voxel's mean diffusivity: off-diagonal
    elements are near zero, so a relative bound per element would say nothing about them."""
    md = np.abs(reference[:, [0, 3, 5]]).mean(axis=1, keepdims=True)
    np.testing.assert_array_less(np.abs(ours - reference) / md, tolerance)


def synthetic_signal(tensor: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, s0: float = 1000.0) -> np.ndarray:
    return s0 * np.exp(-bvals * np.einsum("ni,ij,nj->n", bvecs, tensor, bvecs))


@pytest.fixture(scope="module")
def scheme():
    dirs = gradient_directions(30)
    bvals = np.r_[0.0, 0.0, np.full(30, 1000.0), np.full(30, 2000.0)]
    bvecs = np.r_[np.zeros((2, 3)), dirs, dirs]
    return bvals, bvecs


def test_noise_free_tensor_is_recovered_exactly(scheme):
    bvals, bvecs = scheme
    r = rotation_matrix((20.0, -35.0, 50.0))
    truth = r @ np.diag([1.7e-3, 0.5e-3, 0.2e-3]) @ r.T
    data = synthetic_signal(truth, bvals, bvecs)[None, None, None, :]
    for iterations in (0, 1, 3):
        fit = TensorModel(bvals, bvecs, iterations=iterations).fit(data)
        np.testing.assert_allclose(to_matrix(fit.tensor.astype(np.float64))[0, 0, 0], truth, atol=1e-9)
        assert fit.s0[0, 0, 0] == pytest.approx(1000.0, rel=1e-5)


def test_fa_md_colour_against_hand_computed_values(scheme):
    bvals, bvecs = scheme
    # eigenvalues 1.7, 0.3, 0.3 (x 1e-3) along y: FA = 1.4 / sqrt(1.7^2 + 2 * 0.3^2) = 0.79904
    truth = np.diag([0.3e-3, 1.7e-3, 0.3e-3])
    fit = TensorModel(bvals, bvecs).fit(synthetic_signal(truth, bvals, bvecs)[None, None, None, :])
    assert fit.fa()[0, 0, 0] == pytest.approx(1.4 / np.sqrt(1.7**2 + 2 * 0.3**2), abs=1e-5)
    assert fit.md()[0, 0, 0] == pytest.approx(0.7666667e-3, rel=1e-5)
    np.testing.assert_allclose(fit.colour_fa()[0, 0, 0], [0.0, 0.79904, 0.0], atol=1e-4)


def test_orders_and_rotation_are_consistent():
    m = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    six = from_matrix(m)
    assert six.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # xx, xy, xz, yy, yz, zz
    assert reorder(six, FSL_ORDER, MRTRIX_ORDER).tolist() == [1.0, 4.0, 6.0, 2.0, 3.0, 5.0]
    r = rotation_matrix((0.0, 0.0, 90.0))  # new x axis = old y axis
    rotated = to_matrix(rotate(six, r))
    assert rotated[0, 0] == pytest.approx(m[1, 1]) and rotated[1, 1] == pytest.approx(m[0, 0])


def test_too_few_directions_is_a_clear_error():
    from glymph.errors import GlymphError

    with pytest.raises(GlymphError, match="6 non-collinear"):
        TensorModel(np.array([0.0, 1000, 1000]), np.array([[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]))


def _brain_voxels(dwi):
    """Voxels of the real crop inside dipy's median_otsu mask whose samples are all positive.

    Voxels with a zero sample (signal dropout) are excluded: each tool floors log(0) differently
    by design (dipy 1e-4, MRtrix 1e-6 x max, glymph the smallest positive sample).
    """
    from dipy.segment.mask import median_otsu

    _, mask = median_otsu(dwi.data[..., dwi.is_b0].mean(-1), median_radius=2, numpass=1)
    return mask & (dwi.data > 0).all(-1)


def test_matches_dipy_wls_on_real_data(small_64d):
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel as DipyTensorModel

    dwi = read_dwi(*small_64d)
    voxels = _brain_voxels(dwi)
    # dipy gets the same world-frame directions, so both fits are in the same frame
    gtab = gradient_table(dwi.bvals, bvecs=dwi.bvecs, b0_threshold=50)
    reference = DipyTensorModel(gtab, fit_method="WLS").fit(dwi.data, mask=voxels)
    positive = (reference.evals > 1e-9).all(-1)  # dipy clips eigenvalues, so compare where it did not
    selected = voxels & positive
    assert selected.sum() > 100
    ref = from_matrix(reference.quadratic_form[selected])
    ours = TensorModel(dwi.bvals, dwi.bvecs, iterations=1).fit(dwi.data, voxels).tensor[selected]
    assert_tensors_agree(ours, ref)


def test_matches_mrtrix_dwi2tensor_on_real_data(small_64d):
    """MRtrix3 reads the FSL files itself and fits in the scanner (RAS) frame: all six components
    agreeing checks glymph's b-vector convention too (a wrong x flip changes the sign of xy and xz
    and leaves the diagonal alone)."""
    require_tool("dwi2tensor")
    image, bval, bvec = small_64d
    # MRtrix starts from a signal-weighted fit, glymph from OLS: with 5 reweightings both reach the same IWLS estimate
    reference = dwi2tensor(image, bval, bvec, iterations=5)
    dwi = read_dwi(image, bval, bvec)
    voxels = _brain_voxels(dwi)
    ours = TensorModel(dwi.bvals, dwi.bvecs, iterations=5).fit(dwi.data, voxels).tensor
    assert_tensors_agree(ours[voxels], reference[voxels])


@pytest.mark.parametrize("image", ["phantom b0", "gamma noise"])
def test_the_b0_mask_is_dipys_median_otsu_voxel_for_voxel(image):
    """glymph calls scipy's median filter and scikit-image's Otsu directly (dipy's module is slow to import)."""
    from dipy.segment.mask import median_otsu as dipy_median_otsu

    from glymph.masks import median_otsu
    from glymph.phantoms import alps_phantom

    if image == "phantom b0":
        data = alps_phantom(voxel_mm=3.0, n_directions=6, snr=20.0).dwi.mean_b0().data.astype(np.float32)
    else:
        data = np.random.default_rng(0).gamma(2.0, 1.0, (30, 31, 32)).astype(np.float32)
    _, expected = dipy_median_otsu(data, median_radius=2, numpass=1)
    assert np.array_equal(median_otsu(data), expected)


@pytest.mark.parametrize(
    ("shape", "size", "nan"),
    [((23, 17, 12), 5, False), ((9, 8, 7), 3, False), ((23, 17, 4), 5, False), ((10, 11, 12), 5, True)],
)
def test_the_median_filter_equals_scipys(shape, size, nan):
    """Including the edges (reflected), a dimension shorter than the cube, and NaNs."""
    from scipy.ndimage import median_filter

    from glymph.masks import median_filter_cube

    image = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    image[:, :3] = np.round(image[:, :3])  # ties
    if nan:
        image[4, 5, 6] = np.nan
    np.testing.assert_array_equal(median_filter_cube(image, size), median_filter(image, size=size))


def test_threaded_fit_and_eigenvectors_equal_a_serial_computation(scheme):
    """The fit runs its voxel blocks, and the eigen decomposition its pieces, on threads
    (``glymph.parallel``): the numbers must be those of one serial pass, bit for bit."""
    from glymph.dti.eigen import symmetric_eig3
    from glymph.dti.tensor import _CHUNK, _EIG_CHUNK

    bvals, bvecs = scheme
    rng = np.random.default_rng(3)
    shape = (40, 40, 50)  # 80,000 voxels: three blocks of the fit
    tensors = np.stack([np.diag(rng.uniform(0.2e-3, 2.0e-3, 3)) for _ in range(16)])
    truth = tensors[rng.integers(16, size=shape)]
    signal = 1000.0 * np.exp(-bvals * np.einsum("ni,...ij,nj->...n", bvecs, truth, bvecs))
    data = (signal + rng.normal(0, 15, signal.shape)).astype(np.float32)
    mask = rng.random(shape) > 0.1
    model = TensorModel(bvals, bvecs)
    fit = model.fit(data, mask)
    assert mask.sum() > 2 * _CHUNK
    inside = data[mask].T.astype(np.float64)
    signals = np.maximum(inside, inside[inside > 0].min())
    serial = np.concatenate(
        [model._fit_block(np.log(signals[:, s : s + _CHUNK])) for s in range(0, signals.shape[1], _CHUNK)]
    )
    np.testing.assert_array_equal(fit.tensor[mask], (serial[:, :6] * 1e-3).astype(np.float32))
    assert mask.sum() > _EIG_CHUNK
    w, v = symmetric_eig3(*fit.tensor[mask].astype(np.float64).T)
    np.testing.assert_array_equal(fit.evals[mask], np.clip(w, 0.0, None))
    np.testing.assert_array_equal(fit.evecs[mask], v)


def test_thread_map_keeps_order_and_in_background_returns_or_raises():
    from glymph.parallel import in_background, thread_map

    assert thread_map(lambda x: x * x, range(10), workers=3) == [x * x for x in range(10)]
    assert in_background(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        in_background(lambda: 1 / 0).result()


def test_one_blas_thread_while_a_function_runs_and_its_results_bit_for_bit():
    """``with_one_blas_thread`` (the vein morphometry's fits): BLAS on one thread inside, as before
    outside; a product large enough for OpenBLAS to split then gives the bits of a single-threaded
    process whatever the process allows (what a cohort's tasks and a single run must share; the
    cohort tests compare their tables byte for byte)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from glymph.parallel import with_one_blas_thread

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 3000)), rng.normal(size=(3000, 400))
    inside = with_one_blas_thread(lambda: (blas_threads(), a @ b))()
    assert inside[0] and set(inside[0]) == {1}
    assert blas_threads() == before
    with threadpool_limits(1, user_api="blas"):
        single = a @ b
    assert np.array_equal(inside[1], single)

"""The closed-form 3x3 eigensolver (glymph.dti.eigen) against LAPACK (numpy.linalg.eigh), on
tensor-like matrices, repeated and nearly repeated eigenvalues, and hand-computed cases."""

import numpy as np
import pytest

from glymph.dti.eigen import symmetric_eig3

ELEMENTS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def _decompose(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return symmetric_eig3(*(matrices[..., i, j] for i, j in ELEMENTS))


def _tensors(eigenvalues: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rotations, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), 3, 3)))
    return np.einsum("nij,nj,nkj->nik", rotations, eigenvalues, rotations)


def test_tensors_match_lapack_to_rounding():
    rng = np.random.default_rng(0)
    eigenvalues = rng.uniform(0.05e-3, 3e-3, (20000, 3))
    eigenvalues[:2000, 1] = eigenvalues[:2000, 0]  # prolate: two equal
    eigenvalues[2000:4000, 2] = eigenvalues[2000:4000, 1] * (1 + 1e-9)  # oblate, nearly equal
    eigenvalues[4000:5000] = eigenvalues[4000:5000, :1]  # isotropic
    eigenvalues[5000:6000, 0] = -0.1e-3  # negative (noise): not clipped here
    matrices = _tensors(eigenvalues, rng)
    evals, evecs = _decompose(matrices)
    reference, reference_vectors = np.linalg.eigh(matrices)
    scale = np.abs(reference).max(axis=1)
    assert np.abs(evals - reference[:, ::-1]).max(axis=1).max() <= 1e-14 * scale.max()
    assert np.diff(evals, axis=1).max() <= 1e-15 * scale.max()  # largest first (equal ones: to rounding)
    np.testing.assert_allclose(
        np.einsum("nji,njk->nik", evecs, evecs), np.broadcast_to(np.eye(3), matrices.shape), atol=1e-14
    )
    residual = np.einsum("nij,njk->nik", matrices, evecs) - evecs * evals[:, None, :]
    assert np.abs(residual).max(axis=(1, 2)).max() <= 1e-14 * scale.max()
    # where the principal eigenvalue is simple, the principal eigenvector is LAPACK's up to sign
    simple = (reference[:, 2] - reference[:, 1]) > 1e-3 * scale
    cosine = np.abs(np.einsum("ni,ni->n", evecs[simple, :, 0], reference_vectors[simple, :, 2]))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("matrix", "evals"),
    [
        (np.zeros((3, 3)), [0, 0, 0]),
        (2e-3 * np.eye(3), [2e-3, 2e-3, 2e-3]),
        (np.diag([1e-3, 3e-3, 2e-3]), [3e-3, 2e-3, 1e-3]),
        (np.diag([1e-3, 1e-3, 2e-3]), [2e-3, 1e-3, 1e-3]),
        (np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]), [5, 3, 1]),  # 2 +- 1 in the xy block
        (np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]), [3, 0, 0]),  # rank one
        (-np.eye(3), [-1, -1, -1]),
        (np.array([[1e300, 0, 0], [0, 1e299, 0], [0, 0, 0]]), [1e300, 1e299, 0]),  # no overflow
    ],
)
def test_hand_computed_cases(matrix, evals):
    values, vectors = _decompose(matrix[None])
    np.testing.assert_allclose(values[0], evals, rtol=1e-14, atol=1e-15 * np.abs(matrix).max())
    np.testing.assert_allclose(vectors[0].T @ vectors[0], np.eye(3), atol=1e-14)
    np.testing.assert_allclose(matrix @ vectors[0], vectors[0] * values[0], atol=1e-14 * max(np.abs(matrix).max(), 1))


def test_known_directions_and_any_shape():
    """A tensor whose principal axis is (1, 1, 0)/sqrt(2), in a (2, 2) array of matrices."""
    axis = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    matrix = 0.3e-3 * np.eye(3) + 1.4e-3 * np.outer(axis, axis)
    values, vectors = _decompose(np.broadcast_to(matrix, (2, 2, 3, 3)))
    assert values.shape == (2, 2, 3) and vectors.shape == (2, 2, 3, 3)
    np.testing.assert_allclose(values[1, 1], [1.7e-3, 0.3e-3, 0.3e-3], rtol=1e-13)
    np.testing.assert_allclose(np.abs(vectors[1, 1, :, 0] @ axis), 1.0, atol=1e-14)

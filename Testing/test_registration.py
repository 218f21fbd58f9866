"""Registration to MNI152: accuracy on posed phantoms, frames, and failure detection."""

from __future__ import annotations

import numpy as np
import pytest

from glymph.alps.rois import builtin_roi_set
from glymph.dti import fit_dti
from glymph.dti.dwi import DWI
from glymph.errors import GlymphError
from glymph.masks import brain_mask_from_b0
from glymph.phantoms import HeadPose, alps_phantom
from glymph.registration import AffineMap, register_to_mni, to_sitk
from glymph.volume import Volume

CENTRES = builtin_roi_set("chen2025").array()


@pytest.mark.parametrize(("contrast", "tolerance_mm"), [("fa", 1.0), ("b0", 2.0)])
def test_roi_centres_land_within_a_voxel_of_the_truth(contrast, tolerance_mm):
    """Errors measured here (benchmarks/alps_accuracy.py): FA under 0.1 mm (the phantom's FA follows the template's white matter,
    so this is a best case), b0 against the T1 template 1.3-1.9 mm (a 3-4 % scale bias)."""
    pose = HeadPose(tilt_deg=(12.0, -8.0, 6.0), shift_mm=(6.0, -9.0, 12.0), scale=0.93)
    phantom = alps_phantom(pose=pose, voxel_mm=2.5, n_directions=20, snr=30.0, seed=5)
    dti = fit_dti(phantom.dwi)
    image = dti.fa() if contrast == "fa" else phantom.dwi.mean_b0()
    registration = register_to_mni(image, dti.mask, contrast)
    truth = CENTRES @ pose.matrix()[:3, :3].T + pose.matrix()[:3, 3]
    error = np.linalg.norm(registration.transform.to_subject(CENTRES) - truth, axis=1)
    assert error.max() < tolerance_mm, error
    angle = np.degrees(np.arccos((np.trace(registration.transform.rotation.T @ pose.rotation) - 1) / 2))
    assert angle < 1.0
    assert registration.dice > 0.9
    again = register_to_mni(image, dti.mask, contrast)  # the same call gives the same transform
    assert np.array_equal(again.transform.matrix, registration.transform.matrix)


def test_sitk_conversion_keeps_world_positions():
    affine = np.array([[0.0, 0.0, -2.0, 40.0], [2.5, 0.0, 0.0, -60.0], [0.0, 3.0, 0.0, 10.0], [0, 0, 0, 1]])
    volume = Volume(np.zeros((4, 5, 6), np.float32), affine)
    image = to_sitk(volume)
    ijk = (1, 2, 3)
    lps = np.array(image.TransformIndexToPhysicalPoint(ijk))
    np.testing.assert_allclose(lps * [-1, -1, 1], volume.voxel_to_world(np.array(ijk)))


def test_affine_map_rotation_and_inverse():
    m = np.eye(4)
    m[:3, :3] = HeadPose(tilt_deg=(10.0, 0.0, 0.0)).rotation * 1.1
    m[:3, 3] = [1.0, 2.0, 3.0]
    t = AffineMap(m)
    np.testing.assert_allclose(t.to_template(t.to_subject(CENTRES)), CENTRES, atol=1e-9)
    np.testing.assert_allclose(t.rotation, HeadPose(tilt_deg=(10.0, 0.0, 0.0)).rotation, atol=1e-12)
    np.testing.assert_allclose(t.scales, [1.1] * 3)


def test_a_scan_that_is_not_a_brain_fails_registration_loudly():
    """A ball of isotropic water: no white matter to align, so the quality checks must catch it."""
    rng = np.random.default_rng(0)
    shape = (64, 64, 50)
    ijk = np.indices(shape).transpose(1, 2, 3, 0) - np.array(shape) / 2
    ball = (np.linalg.norm(ijk * [1, 1, 1.2], axis=-1) < 25).astype(np.float32)
    bvals = np.r_[0.0, np.full(12, 1000.0)]
    dirs = rng.normal(size=(12, 3))
    bvecs = np.r_[np.zeros((1, 3)), dirs / np.linalg.norm(dirs, axis=1, keepdims=True)]
    signal = 1000 * ball[..., None] * np.exp(-bvals * 2e-3)
    data = np.abs(signal + rng.normal(0, 20, signal.shape)).astype(np.float32)
    affine = np.diag([2.5, 2.5, 2.5, 1.0])
    affine[:3, 3] = -np.array(shape) * 1.25
    dwi = DWI(Volume(data, affine), bvals, bvecs)
    dti = fit_dti(dwi)
    with pytest.raises(GlymphError, match="registration to the MNI152 template failed"):
        register_to_mni(dti.fa(), dti.mask, "fa")


def test_automatic_mask_covers_the_brain(clean_phantom):
    mask = brain_mask_from_b0(clean_phantom.dwi.mean_b0()).data
    truth = clean_phantom.brain_mask
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.95

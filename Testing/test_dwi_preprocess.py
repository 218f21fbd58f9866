"""DWI preprocessing: motion correction on a phantom whose head moves between volumes (the index
is wrong without it and right with it), denoising and Gibbs removal through dipy, and the choices
recorded in the sidecar."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glymph.alps import run_alps
from glymph.dti.dwi import DWI
from glymph.dti.preprocess import Preprocessing, correct_motion, denoise, slice_axis, unring
from glymph.errors import GlymphError
from glymph.phantoms import HeadPose, alps_phantom, rotation_matrix, write_fsl
from glymph.volume import Volume

GLYMPH = str(Path(sys.executable).with_name("glymph"))
N_DIRECTIONS = 12


def head_motion(n_volumes: int, seed: int) -> list[HeadPose]:
    """The first b0 still; every other volume turned up to 4 degrees and moved up to 2.5 mm."""
    rng = np.random.default_rng(seed)
    moved = [HeadPose(tuple(rng.uniform(-4, 4, 3)), tuple(rng.uniform(-2.5, 2.5, 3))) for _ in range(n_volumes - 1)]
    return [HeadPose(), *moved]


@pytest.fixture(scope="module")
def moving_head():
    """A noise-free phantom whose head moves between volumes, and the poses (the truth)."""
    motion = head_motion(2 + N_DIRECTIONS, seed=5)
    phantom = alps_phantom(voxel_mm=2.5, n_directions=N_DIRECTIONS, snr=np.inf, motion=motion)
    return phantom, motion


@pytest.fixture(scope="module")
def corrected(moving_head):
    phantom, _ = moving_head
    return correct_motion(phantom.dwi)


def test_motion_is_found_volume_by_volume(moving_head, corrected):
    """Each volume's rotation found by registration is the head's own (poses rotate about the
    template origin, so compare rotations; translations depend on the centre)."""
    _, motion = moving_head
    _, found = corrected
    errors = [
        np.degrees(np.arccos(np.clip((np.trace(r.T @ rotation_matrix(pose.tilt_deg)) - 1) / 2, -1, 1)))
        for r, pose in zip(found.rotations(), motion, strict=True)
    ]
    assert max(errors) < 0.5, errors
    table = found.table()
    assert len(table) == len(motion) and table[0]["displacement_mm"] == 0.0
    assert min(row["displacement_mm"] for row in table[1:]) > 0.5


def test_the_index_is_wrong_with_motion_and_right_after_correction(moving_head, corrected):
    phantom, _ = moving_head
    moved = run_alps(phantom.dwi, frame="anatomical").index
    dwi, _ = corrected
    fixed = run_alps(dwi, frame="anatomical").index
    unrotated = run_alps(DWI(dwi.volume, dwi.bvals, phantom.dwi.bvecs), frame="anatomical").index

    def worst(index) -> float:
        return max(abs(index.alps_L / 1.3 - 1), abs(index.alps_R / 1.6 - 1))

    # measured: 15 % off moved, 3.7 % after correction (resampling the narrow tracts costs a little)
    assert worst(moved) > 0.10, (moved.alps_L, moved.alps_R)
    assert worst(fixed) < 0.05 and worst(fixed) < worst(moved) / 3, (fixed.alps_L, fixed.alps_R)
    # the b-vectors must turn with the head: without that the index stays further off
    assert abs(fixed.alps - 1.45) < abs(unrotated.alps - 1.45)


def test_gradients_turn_with_the_head(moving_head, corrected):
    """Corrected b-vectors are R_i^T g_i with R_i the head's rotation, within the registration's accuracy."""
    phantom, motion = moving_head
    dwi, _ = corrected
    for i, pose in enumerate(motion):
        if phantom.dwi.is_b0[i]:
            continue
        expected = rotation_matrix(pose.tilt_deg).T @ phantom.dwi.bvecs[i]
        assert np.degrees(np.arccos(min(1.0, abs(expected @ dwi.bvecs[i])))) < 0.5


@pytest.mark.parametrize(("model", "limit_mm"), [("rigid", 0.2), ("affine", 0.5)])
def test_still_heads_are_left_alone(model, limit_mm):
    """A head that did not move: the rigid model finds at most 0.12 mm (3 mm voxels); the affine one
    up to 0.38 mm, as the diffusion contrast pulls its shears and scales a little."""
    phantom = alps_phantom(voxel_mm=3.0, n_directions=6, snr=np.inf)
    dwi, motion = correct_motion(phantom.dwi, model=model)
    assert motion.displacement_mm.max() < limit_mm
    np.testing.assert_allclose(dwi.bvecs, phantom.dwi.bvecs, atol=5e-3)


def test_denoising_lowers_the_noise_and_keeps_the_signal():
    slab = (4.0, 40.0)  # a slab of 12 slices keeps the test quick
    clean = alps_phantom(voxel_mm=3.0, n_directions=30, snr=np.inf, slab_z_mm=slab)
    noisy = alps_phantom(voxel_mm=3.0, n_directions=30, snr=15.0, seed=2, slab_z_mm=slab)
    inside = clean.brain_mask
    before = np.sqrt(np.mean((noisy.dwi.data[inside] - clean.dwi.data[inside]) ** 2))
    # measured on this slab: RMS error 0.34 of the noise's after MP-PCA, 0.80 after Patch2Self
    for method, most in (("mppca", 0.5), ("patch2self", 0.88)):
        cleaned = denoise(noisy.dwi, method)
        after = np.sqrt(np.mean((cleaned.data[inside] - clean.dwi.data[inside]) ** 2))
        assert after < most * before, (method, before, after)
        assert cleaned.data.shape == noisy.dwi.data.shape and cleaned.data.min() >= 0
    with pytest.raises(GlymphError, match="unknown denoising"):
        Preprocessing(denoise="bm4d")


def test_unringing_removes_ringing_in_the_slice_plane():
    """A sharp-edged rectangle imaged at 1/4 of its resolution by keeping the central 64 x 64 of its
    k-space (the ringing an acquisition makes); the truth is the rectangle averaged over each coarse
    pixel. Unringing halves the ringing away from the edges (measured 0.44 -> 0.22)."""
    from scipy.ndimage import binary_dilation

    fine = np.zeros((256, 256), np.float32)
    fine[77:179, 83:171] = 100.0  # edges off the coarse grid
    centre = np.fft.fftshift(np.fft.fft2(fine))[96:160, 96:160]
    ringing = np.real(np.fft.ifft2(np.fft.ifftshift(centre))) / 16.0
    truth = fine.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    inside = truth > 50
    edges = binary_dilation(inside ^ binary_dilation(inside), iterations=2) | binary_dilation(
        inside ^ ~binary_dilation(~inside), iterations=2
    )
    affine = np.diag([1.0, 1.0, 4.0, 1.0])  # thick slices along the third axis
    data = np.repeat(np.repeat(ringing[..., None], 4, axis=2)[..., None], 2, axis=3).astype(np.float32)
    volume = Volume(data, affine)
    dwi = DWI(volume, np.array([0.0, 1000.0]), np.array([[0, 0, 0], [1.0, 0, 0]]))
    assert slice_axis(volume.with_data(data[..., 0])) == 2
    cleaned = unring(dwi).data[..., 1, 0]
    before = np.abs(ringing - truth)[~edges].mean()
    after = np.abs(cleaned - truth)[~edges].mean()
    assert after < 0.6 * before, (before, after)


def test_the_commands_record_each_step_and_the_motion_table(moving_head, tmp_path):
    phantom, motion = moving_head
    image, _, _ = write_fsl(phantom.dwi, str(tmp_path / "dwi.nii.gz"))
    out = tmp_path / "alps"
    done = subprocess.run(
        [GLYMPH, "alps", image, "--out", str(out), "--motion-correct", "rigid"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((out / "alps.json").read_text())
    expected = {"denoise": "none", "unring": False, "motion_correct": "rigid"}
    assert sidecar["parameters"] | expected == sidecar["parameters"]
    preprocessing = sidecar["dti"]["preprocessing"]
    assert [s["step"].split(" ")[0] for s in preprocessing["steps"]] == ["motion"]
    table = preprocessing["motion"]["volumes"]
    assert len(table) == len(motion) and {"rotation_x_deg", "translation_z_mm", "displacement_mm"} <= set(table[2])
    assert preprocessing["motion"]["max_displacement_mm"] > 1.0
    # every step on a thin slab through `glymph dti`, in the documented order
    slab = alps_phantom(voxel_mm=2.5, n_directions=6, snr=20.0, slab_z_mm=(14.0, 34.0))
    image, _, _ = write_fsl(slab.dwi, str(tmp_path / "slab.nii.gz"))
    argv = [GLYMPH, "dti", image, "--out", str(tmp_path / "dti"), "--denoise", "mppca", "--unring", "--motion-correct"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    steps = json.loads((tmp_path / "dti" / "dti.json").read_text())["dti"]["preprocessing"]["steps"]
    assert [s["step"].split(" ")[0] for s in steps] == ["denoising", "Gibbs", "motion"]
    assert steps[2]["model"] == "affine" and all(s["time_s"] >= 0 for s in steps)
    done = subprocess.run([*argv[:5], str(tmp_path / "bad"), "--denoise", "bm4d"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice" in done.stderr

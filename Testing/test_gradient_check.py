"""The gradient-table check: each sign flip and axis swap of an FSL table is found and named on a
phantom whose bundles follow the real white matter's shape (the JHU tract atlas), the right table
passes there and on the fan-shaped phantom, and the CLI stops or fixes as asked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MRICRON, require_file, require_module
from references import jhu_fibres

from glymph.dti import fit_dti
from glymph.dti.gradient_check import BY_NAME, CANDIDATES, Candidate, changed_table, check_gradient_table
from glymph.dti.gradients import fsl_frame
from glymph.dti.tensor import TensorModel, to_matrix
from glymph.errors import GlymphError
from glymph.phantoms import HeadPose, alps_phantom, write_fsl

GLYMPH = str(Path(sys.executable).with_name("glymph"))
MISTAKES = ("flip x", "flip y", "flip z", "swap x and y", "swap x and z", "swap y and z")  # each undoes itself


@pytest.fixture(scope="module")
def bundles():
    """A tilted 3 mm phantom at SNR 20 whose white matter runs along the JHU tracts."""
    require_file(MRICRON / "JHU-WhiteMatter-labels-2mm.nii.gz")
    pose = HeadPose((8.0, -6.0, 4.0), (3.0, -2.0, 1.0))
    return alps_phantom(voxel_mm=3.0, n_directions=20, snr=20.0, pose=pose, fibres=jhu_fibres())


@pytest.fixture(scope="module")
def right_fit(bundles):
    return fit_dti(bundles.dwi, gradient_check="off")


def test_candidates_are_the_24_distinct_tables():
    """6 axis orders x 4 sign changes, no two giving the same tensors (C and -C do)."""
    matrices = [c.matrix for c in CANDIDATES]
    assert len(CANDIDATES) == 24 and CANDIDATES[0].is_identity
    for i, a in enumerate(matrices):
        for b in matrices[i + 1 :]:
            assert not np.allclose(a, b) and not np.allclose(a, -b)
    assert Candidate((2, 1, 0), (1, 1, 1)).describe() == "swap x and z" and set(MISTAKES) <= set(BY_NAME)
    assert Candidate((2, 0, 1), (1, -1, 1)).describe() == "order z x y, flip y"
    table = np.array([[0.6, 0.8, 0.0]])
    assert np.allclose(Candidate((2, 0, 1), (1, -1, 1)).apply(table), [[0.0, -0.6, 0.8]])


def test_a_changed_table_fits_the_changed_tensors(bundles, right_fit):
    """What the check relies on instead of 24 fits: a table changed by W (world frame) fits W D W^T."""
    dwi = bundles.dwi.up_to_b(1000)
    inside = right_fit.fit.mask & (right_fit.fit.fa() > 0.3)
    change = BY_NAME["swap x and z"]
    frame = fsl_frame(dwi.affine)
    w = frame @ change.matrix @ frame.T
    changed = TensorModel(dwi.bvals, changed_table(dwi, change).bvecs).fit(dwi.data, inside)
    expected = w @ to_matrix(right_fit.fit.tensor[inside]) @ w.T
    assert np.allclose(to_matrix(changed.tensor[inside]), expected, atol=1e-7)


def test_the_right_table_passes(right_fit):
    check = check_gradient_table(right_fit.fit, right_fit.affine)
    assert check.checked and check.conclusive and check.best.is_identity and not check.wrong
    assert check.as_given_mm > 12.0  # mm: streamlines follow the tracts


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_flip_and_swap_is_found_and_named(bundles, right_fit, mistake):
    wrong = changed_table(bundles.dwi, BY_NAME[mistake])
    with pytest.raises(GlymphError, match=f"changed by '{mistake}'.*--fix-gradients"):
        fit_dti(wrong)
    fixed = fit_dti(wrong, gradient_check="fix")
    assert fixed.gradient_check["action"] == f"fixed: {mistake}"
    assert fixed.gradient_check["as_given_over_best"] < 0.8
    inside = right_fit.fit.mask
    assert np.allclose(fixed.fit.tensor[inside], right_fit.fit.tensor[inside], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_fibre_field_unrelated_to_the_anatomy_stops_nothing(seed):
    """The fan phantom favours no table clearly (runner-up within 5 % of the best): never a false stop."""
    rng = np.random.default_rng(seed)
    phantom = alps_phantom(
        voxel_mm=(3.0, 3.0, 3.0) if seed else (2.5, 2.5, 3.5),
        n_directions=16,
        snr=float(rng.uniform(12, 40)),
        pose=HeadPose.random(rng),
        grid_rotation_deg=tuple(rng.uniform(-10, 10, 3)),
        seed=seed,
    )
    result = fit_dti(phantom.dwi)
    assert result.gradient_check["action"] == "none" and not result.gradient_check["conclusive"]


def test_too_little_white_matter_is_not_judged(small_64d):
    """A 10x10x10 real crop: recorded as not checked, never stopped."""
    from glymph.dti.dwi import read_dwi

    image, bval, bvec = small_64d
    result = fit_dti(read_dwi(image, bval, bvec))
    assert result.gradient_check["checked"] is False and result.gradient_check["action"] == "none"


def test_the_cli_stops_on_a_wrong_table_and_fixes_it_when_asked(bundles, tmp_path):
    image, _, _ = write_fsl(changed_table(bundles.dwi, BY_NAME["flip y"]), str(tmp_path / "dwi.nii.gz"))
    stopped = subprocess.run([GLYMPH, "dti", image, "--out", str(tmp_path / "stopped")], capture_output=True, text=True)
    assert stopped.returncode == 2 and "Traceback" not in stopped.stderr
    assert "changed by 'flip y'" in stopped.stderr and not (tmp_path / "stopped").exists()
    out = tmp_path / "fixed"
    subprocess.run([GLYMPH, "dti", image, "--out", str(out), "--fix-gradients"], check=True, capture_output=True)
    sidecar = json.loads((out / "dti.json").read_text())
    assert sidecar["dti"]["gradient_check"]["action"] == "fixed: flip y"
    fixed = np.array(sidecar["dti"]["gradient_check"]["bvecs_fsl_fixed"])  # the right table, as FSL rows
    assert np.allclose(fixed, bundles.dwi.bvecs @ fsl_frame(bundles.dwi.affine), atol=1e-5)
    assert sidecar["parameters"]["gradient_check"] == "fix"
    skipped = subprocess.run(
        [GLYMPH, "dti", image, "--out", str(tmp_path / "skipped"), "--no-gradient-check"], capture_output=True
    )
    assert skipped.returncode == 0
    assert json.loads((tmp_path / "skipped" / "dti.json").read_text())["dti"]["gradient_check"]["action"] == "off"


def test_the_module_logic_stops_or_fixes_as_the_panel_says(bundles, right_fit):
    slicer = require_module("slicer")
    from ALPSLib import AlpsNodeLogic, AlpsOptions

    from glymph_mrml import dwi_to_node

    scene = slicer.vtkMRMLScene()
    node = dwi_to_node(changed_table(bundles.dwi, BY_NAME["swap x and y"]), scene, "dwi")
    logic = AlpsNodeLogic(scene)
    with pytest.raises(GlymphError, match="changed by 'swap x and y'"):
        logic.run(node, AlpsOptions(frame="anatomical"))
    result, _ = logic.run(node, AlpsOptions(frame="anatomical", gradient_check="fix"))
    assert result.dti.gradient_check["action"] == "fixed: swap x and y"
    inside = right_fit.fit.mask
    assert np.allclose(result.dti.fit.tensor[inside], right_fit.fit.tensor[inside], atol=1e-6)

"""Brain extraction with deepbet's networks through glymph's inference code, on real T1 images."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import COLIN27, ITK_DATA, ITK_T1, require_file, require_module

from glymph.image_io import read_volume
from glymph.volume import reoriented


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def colin_mask(colin_deepbet):
    return colin_deepbet


def test_matches_deepbet_itself_and_the_shipped_bet_mask(colin_mask):
    import nibabel as nib

    deepbet = require_module("deepbet")
    _t1, (mask, provenance) = colin_mask
    _, reference, _ = deepbet.BrainExtraction(no_gpu=True).run(nib.load(COLIN27))
    assert dice(mask.data, np.asarray(reference.dataobj) > 0) > 0.99
    bet = read_volume(COLIN27.with_name("ch2bet.nii.gz")).data > 0
    assert dice(mask.data, bet) > 0.92
    assert set(provenance["files"]) == {"bbox_model.pt", "model.pt"}
    assert all(len(f["sha256"]) == 64 for f in provenance["files"].values())


def test_storage_order_does_not_change_the_mask(colin_mask):
    from glymph.models.deepbet import brain_mask_deepbet

    t1, (mask, _) = colin_mask
    flipped, _ = brain_mask_deepbet(reoriented(t1, "LPI"))
    np.testing.assert_array_equal(reoriented(flipped, "RAS").data, mask.data)


def test_coronal_low_resolution_t1():
    require_module("torch")
    from glymph.models.deepbet import brain_mask_deepbet

    t1 = read_volume(require_file(ITK_T1))
    reference = read_volume(ITK_DATA / "KmeansTest_T1RawSkullStrip.nii.gz").data > 0
    mask, _ = brain_mask_deepbet(t1)
    assert mask.same_grid(t1)
    assert dice(mask.data, reference) > 0.95

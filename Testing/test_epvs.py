"""EPVS on real T1 anatomy with inserted lesions of known size, number and position.

Phantoms: Colin27 (1 mm, MNI-aligned) and the ITK example head (2x2x3 mm, coronal storage,
upsampled to 1 mm before lesions are inserted: 1-2 mm tubes cannot be drawn in 3 mm slices).
The classical method's thresholds were set on a Colin27 phantom with seed 1; these use others.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import ITK_T1, require_file, require_module
from references import aal_placement, scikit_image_vesselness

from glymph.components import label_components
from glymph.epvs import run_epvs
from glymph.epvs.lesions import measure_lesions, remove_short
from glymph.errors import GlymphError
from glymph.evaluation import agreement
from glymph.image_io import read_volume
from glymph.phantoms import epvs_phantom
from glymph.volume import Volume


def long_truth(phantom) -> Volume:
    return phantom.truth.with_data(np.isin(phantom.truth.data, [lesion.id for lesion in phantom.truth_at_least(2.0)]))


def matched_regions(result, phantom) -> list[tuple[int, int]]:
    """(true region, reported region) of every true lesion the result found."""
    labels = result.labels_on_input_grid().data
    pairs = []
    for lesion in phantom.truth_at_least(2.0):
        hits = labels[phantom.truth.data == lesion.id]
        hits = hits[hits > 0]
        if hits.size:
            found = next(item for item in result.lesions if item.id == np.bincount(hits).argmax())
            pairs.append((lesion.region, found.region))
    return pairs


def test_colin27_phantom_t1(colin_phantom, colin_result):
    result = colin_result
    score = agreement(result.labels_on_input_grid(), long_truth(colin_phantom))
    # measured (seed 2, lesions placed by the AAL atlas and the generator's own white matter; the
    # classical method): Dice 0.77, lesion sensitivity 0.75, precision 1.00, 15 lesions for 20 true;
    # all 12 found in the centrum semiovale, 3 of 8 in the basal ganglia (those next to the
    # ventricles lie outside the method's search region). Before the partial-volume shaping: Dice 0.68
    assert score.dice > 0.72
    assert score.lesion_sensitivity >= 0.65 and score.lesion_precision >= 0.9
    assert abs(score.predicted_lesions - score.reference_lesions) <= 0.35 * score.reference_lesions
    assert all(lesion.length_mm >= 2.0 for lesion in result.lesions)
    regions = matched_regions(result, colin_phantom)
    assert sum(true == found for true, found in regions) >= 0.9 * len(regions)


def test_region_map_agrees_with_independent_anatomy(colin_phantom, colin_result):
    """glymph's regions (MNI152 atlas through registration) against the phantom's own: AAL's basal
    ganglia (measured Dice 0.86) and, for the centrum semiovale, Colin27's own white matter above
    MNI z = 28 mm (glymph's region, MNI152 white matter there, covers 64 % of it and never leaves it)."""
    regions = colin_result.regions_on_input_grid().data
    placement = colin_phantom.regions.data
    bg, aal_bg = regions == 1, placement == 1
    assert 2 * (bg & aal_bg).sum() / (bg.sum() + aal_bg.sum()) > 0.8
    cso, own_cso = regions == 2, (placement == 2) & (colin_phantom.tissues.data == 3)
    assert (cso & own_cso).sum() / own_cso.sum() > 0.55
    assert (cso & (placement == 2)).sum() / cso.sum() > 0.95


def test_colin27_phantom_with_t2(colin_phantom):
    result = run_epvs(colin_phantom.t1, colin_phantom.t2, mask=colin_phantom.brain_mask, method="classical")
    score = agreement(result.labels_on_input_grid(), long_truth(colin_phantom))
    assert result.with_t2
    # measured (seed 2, AAL placement, classical): Dice 0.83, sensitivity 0.95, precision 0.95
    assert score.dice > 0.75 and score.lesion_sensitivity >= 0.75 and score.lesion_precision >= 0.85


@pytest.mark.parametrize(
    ("main_mm", "t2_mm", "read"),
    [
        ((1, 1, 1), (1, 1, 1), True),
        ((1, 1, 1), (1, 1, 3), False),  # a 2D T2 of thick slices beside a 3D T1
        ((0.5, 0.5, 1), (0.45, 0.45, 5), False),
        ((1, 1, 1), (1, 1, 1.5), True),
        ((1, 1, 3), (1, 1, 3), True),  # blurred alike: the calibrated thick-slice case
        ((1, 1, 3), (1, 1, 1), True),
        ((1, 1, 1), None, False),
    ],
)
def test_which_t2_is_read_for_tubes(main_mm, t2_mm, read):
    from glymph.epvs.preprocess import t2_reads_tubes

    assert t2_reads_tubes(main_mm, t2_mm) is read


def test_a_thick_t2_beside_a_1mm_t1_leaves_the_tubes_to_the_t1(colin_phantom, colin_result, caplog):
    """The phantom's T2 averaged into 1 x 1 x 3 mm voxels beside its 1 mm T1: the classical method
    reads the tubes on the T1 alone and finds exactly what it finds without the T2. Reading the
    thick T2's blurred tubes too took its Dice on this head from 0.77 (the T1 alone) to 0.64 and its
    lesion sensitivity from 0.75 to 0.50 (10 spaces found for 20; printed by a script outside the
    repository with the old rule patched in)."""
    from glymph.phantoms import thick_slices

    with caplog.at_level(logging.INFO, logger="glymph"):
        result = run_epvs(
            colin_phantom.t1, thick_slices(colin_phantom.t2), mask=colin_phantom.brain_mask, method="classical"
        )
    assert "the T2's voxels (1 x 1 x 3 mm) are thick-slice and the T1's are not" in caplog.text
    assert result.with_t2 and not result.t2_vesselness and colin_result.t2_vesselness is False
    np.testing.assert_array_equal(result.labels, colin_result.labels)


def test_a_t2_given_as_the_t1_is_refused(colin_phantom, colin_result):
    """The ventricles against the white matter, read through the registration: dark in the T1,
    bright in the T2, which is refused before any segmentation."""
    from glymph.epvs.preprocess import csf_to_white_matter

    assert csf_to_white_matter(colin_result.grid_t1, colin_result.registration) < 0.5
    with pytest.raises(GlymphError, match=r"the T1 looks T2-weighted: its ventricles \(CSF\) are .* times as bright"):
        run_epvs(colin_phantom.t2, mask=colin_phantom.brain_mask)


def test_itk_head_phantom_in_coronal_storage(tmp_path):
    require_module("torch")
    from glymph.models.deepbet import brain_mask_deepbet
    from glymph.preprocess import isotropic_grid, n4_bias_correction, normalise_intensity, resample
    from glymph.registration import register_to_mni

    raw = read_volume(require_file(ITK_T1))
    t1 = resample(raw, isotropic_grid(raw, 1.0), order=3)
    mask, _ = brain_mask_deepbet(t1)
    registration = register_to_mni(normalise_intensity(n4_bias_correction(t1, mask), mask), mask, "t1")
    phantom = epvs_phantom(t1, mask, registration.transform, aal_placement(t1, registration.transform), seed=4)
    result = run_epvs(phantom.t1, mask=mask, method="classical")
    assert result.labels_on_input_grid().same_grid(t1)
    score = agreement(result.labels_on_input_grid(), long_truth(phantom))
    # measured (seed 4, AAL placement, classical; 2026-12-06): Dice 0.69, sensitivity 0.70, precision 1.00
    # (0.67 and 0.70 without the partial-volume shaping)
    assert score.dice > 0.6 and score.lesion_sensitivity >= 0.65 and score.lesion_precision >= 0.9


def test_bias_correction_is_the_same_whatever_the_thread_count():
    """N4 adds per-thread partial sums, so its field depended on ITK's thread count: a cohort worker
    (one thread) and a run alone (one per core) gave a head images up to 9e-7 apart (relative), and
    the MNI registration they feed moved the EPVS regions (Colin27 seed 2 with its T2: basal-ganglia
    region 37,609 against 37,615 mm3, spaces 323 against 322 mm3; `glymph epvs` by hand). N4 now runs
    on one thread whatever the setting, which it leaves as it was. This ellipsoid's correction was
    1.4e-5 apart on 1 and 4 threads before."""
    sitk = require_module("SimpleITK")
    from glymph.preprocess import n4_bias_correction

    ijk = np.indices((64, 64, 48)).astype(float)
    r = np.sqrt(((ijk[0] - 32) / 28) ** 2 + ((ijk[1] - 32) / 28) ** 2 + ((ijk[2] - 24) / 20) ** 2)
    bias = np.exp(0.3 * (ijk[0] - 32) / 32 + 0.2 * (ijk[2] - 24) / 24)
    head = np.where(r < 1, 1.0 + 0.3 * (r < 0.5), 0.0) * bias + np.random.default_rng(0).normal(0, 0.02, r.shape)
    image = Volume((head + 0.05).astype(np.float32), np.diag([1.5, 1.5, 1.5, 1.0]))
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    corrected = []
    try:
        for threads in (1, 4):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
            corrected.append(n4_bias_correction(image, image.with_data(r < 1)).data)
            assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
    np.testing.assert_array_equal(corrected[0], corrected[1])
    # and it corrected: the outer shell's mean across x (1.5 mm voxels 10 and 54) was 1.51-fold apart
    shell = [(r > 0.5) & (r < 0.9) & (np.abs(ijk[0] - x) < 2) for x in (10, 54)]
    assert head[shell[1]].mean() / head[shell[0]].mean() > 1.4
    assert corrected[0][shell[1]].mean() / corrected[0][shell[0]].mean() == pytest.approx(1.0, abs=0.05)


def test_length_filter_against_the_truth(colin_phantom):
    """On the truth itself: short tubes (< 2 mm) measure under 2 mm and go, long ones stay and measure close to their geometry."""
    labels, _ = label_components(colin_phantom.truth.data > 0)
    lesions = measure_lesions(labels, colin_phantom.truth)
    kept_labels, kept = remove_short(labels, lesions, 2.0)
    true_short = [lesion for lesion in colin_phantom.lesions if lesion.length_mm < 2.0]
    assert len(kept) == len(colin_phantom.lesions) - len(true_short)
    for lesion in colin_phantom.truth_at_least(2.0):
        voxels = kept_labels[colin_phantom.truth.data == lesion.id]
        measured = next(item for item in kept if item.id == np.bincount(voxels[voxels > 0]).argmax())
        assert measured.length_mm == pytest.approx(lesion.length_mm, abs=2.5)
    for lesion in true_short:
        assert not kept_labels[colin_phantom.truth.data == lesion.id].any()


def test_lesion_measures_by_hand():
    grid = Volume(np.zeros((20, 20, 20), np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    mask = np.zeros(grid.shape, bool)
    mask[5, 5, 5] = True  # 1 voxel: length 1 mm
    mask[10, 10, 4:9] = True  # a straight 5-voxel line: length 5 mm, diameter 1 mm
    mask[15, 2:4, 15] = True  # 2 voxels: length 2 mm, kept at min 2 mm
    labels, n = label_components(mask)
    lesions = {round(lesion.length_mm, 6): lesion for lesion in measure_lesions(labels, grid)}
    assert n == 3 and sorted(lesions) == [1.0, 2.0, 5.0]
    assert lesions[5.0].max_diameter_mm == 1.0 and lesions[5.0].volume_mm3 == 5.0
    assert lesions[5.0].centroid_z == 6.0
    _, kept = remove_short(labels, list(lesions.values()), 2.0)
    assert sorted(lesion.length_mm for lesion in kept) == [2.0, 5.0]


def test_large_flat_and_straight_components_are_measured_exactly():
    """A whole 120 x 90 voxel slice (flat: no 3D hull) and a 150-voxel line: lengths by hand,
    without comparing every pair of voxels (which needs 4.7e7 distances for the slice)."""
    grid = Volume(np.zeros((160, 100, 10), np.float32), np.diag([1.0, 1.0, 2.0, 1.0]))
    mask = np.zeros(grid.shape, bool)
    mask[10:130, 5:95, 4] = True
    mask[5:155, 2, 8] = True
    labels, n = label_components(mask)
    lesions = sorted(measure_lesions(labels, grid), key=lambda lesion: lesion.n_voxels)
    edge = np.cbrt(2.0)
    assert n == 2 and lesions[0].length_mm == pytest.approx(149 + edge)
    assert lesions[0].max_diameter_mm == pytest.approx(edge)
    assert lesions[1].length_mm == pytest.approx(np.hypot(119, 89) + edge)


def test_unavailable_method_says_so():
    from glymph.defaults import EPVS_METHODS

    with pytest.raises(GlymphError, match="'unet3000' is not available; available: classical, learned"):
        EPVS_METHODS.get("unet3000")


def test_frangi_matches_scikit_image():
    from glymph.epvs import segmentation as S

    rng = np.random.default_rng(0)
    image = rng.normal(1, 0.05, (40, 40, 40)).astype(np.float32)
    image[10:30, 20, 20] = 0.3
    image[20, 5:35, 10] = 0.4
    region = np.zeros(image.shape, bool)
    region[8:32, 8:32, 5:35] = True
    ours = S.vesselness(image, region, True, 1.0)
    reference = scikit_image_vesselness(image, dark=True)
    np.testing.assert_allclose(ours[region], reference[region], atol=1e-3)
    assert not ours[~region].any()


def test_a_wide_space_touching_a_ventricle_stays_in_the_search_region():
    """Large CSF by hand: a 10 mm ventricle, a 2 mm wide tube leaving it through the basal ganglia
    (a perivascular space: searched beyond the 2 mm margin), a 2 mm tube leaving it outside the
    basal ganglia (an aqueduct: stays part of the ventricle) and a thin slit joined to it inside
    the basal ganglia (a sheet: stays part of the ventricle)."""
    from glymph.epvs.segmentation import SegmentationInputs, large_csf, search_region

    shape = (60, 40, 40)
    tissues = np.full(shape, 3, np.uint8)
    regions = np.zeros(shape, np.uint8)
    regions[30:, :, :] = 1  # basal ganglia: the half of the volume at x >= 30
    tissues[20:30, 15:25, 15:25] = 1  # ventricle
    tissues[30:45, 19:21, 19:21] = 1  # perivascular space, in the basal ganglia
    tissues[5:20, 19:21, 19:21] = 1  # aqueduct-like tube, outside them
    tissues[30:36, 5:15, 26:36] = 1  # slit (1 voxel thick, 6 x 10 x 10), in the basal ganglia
    tissues[29, 5:15, 26:36] = 1
    tissues[29:31, 14:16, 24:27] = 1  # ... joined to the ventricle
    inputs = SegmentationInputs(np.ones(shape, np.float32), tissues, regions, np.ones(shape, bool))
    large = large_csf(inputs)
    assert large[20:30, 15:25, 15:25].all()
    assert large[5:20, 19:21, 19:21].all()
    assert large[32, 10, 30]
    assert not large[33:45, 19:21, 19:21].any()
    inside = np.pad(np.ones((50, 30, 30), bool), 5)  # the search region keeps 3 mm from the brain's edge
    region = search_region(SegmentationInputs(inputs.t1, tissues, regions, inside))
    assert region[35:45, 19:21, 19:21].all() and not region[10:18, 19:21, 19:21].any()


@pytest.mark.parametrize("contrast", ["t1", "t2"])
def test_only_components_that_are_tubes_on_the_image_are_kept(contrast):
    """The learned method's check, by hand: in white matter, a 2 mm wide tube (kept) and a patch
    where the image shows nothing (dropped), whether the tube is dark on a T1 or bright on a T2
    alone; on the T1 a 7 mm ball (a lacune-like blob, not a tube) is dropped too. (On a T2 the
    ball's bright rim reads as tubes: its mean vesselness is 0.42 there, the tube's 0.45.)"""
    from scipy import ndimage

    from glymph.epvs.learned import MIN_TUBE_RESPONSE
    from glymph.epvs.segmentation import SegmentationInputs, keep_tubes, tube_response

    shape = (48, 48, 48)
    grid = np.indices(shape)
    tube = ((grid[0] - 14) ** 2 + (grid[1] - 14) ** 2 <= 1.0) & (grid[2] >= 10) & (grid[2] < 38)
    ball = ((grid - np.array([32, 32, 24])[:, None, None, None]) ** 2).sum(0) <= 3.5**2
    patch = (np.abs(grid[0] - 34) <= 1) & (np.abs(grid[1] - 12) <= 1) & (np.abs(grid[2] - 24) <= 3)
    lesion = 0.35 if contrast == "t1" else 3.0  # CSF-like, relative to white matter
    image = np.where(tube | ball, lesion, 1.0)
    image = ndimage.gaussian_filter(image, 0.5) + np.random.default_rng(0).normal(0, 0.02, shape)
    tissues = np.full(shape, 3, np.uint8)
    inside = np.ones(shape, bool)
    inputs = SegmentationInputs(image.astype(np.float32), tissues, np.zeros(shape, np.uint8), inside, contrast=contrast)
    response = tube_response(inputs, inside)
    found = tube | ball | patch  # what a network might have returned
    kept = keep_tubes(found, response, MIN_TUBE_RESPONSE)
    assert kept[tube].all() and not kept[patch].any()
    assert not kept[ball].any() or contrast == "t2"
    assert keep_tubes(found, response, 0.0).sum() == found.sum()
    assert not keep_tubes(np.zeros(shape, bool), response, MIN_TUBE_RESPONSE).any()


def spaces_along_z(shape: tuple[int, int, int], centres: list[tuple[int, int]], radius: float, z: range) -> np.ndarray:
    """Each voxel's share of straight spaces along z (voxel units: centres in x, y, a radius) over
    slices ``z``: the mean of 8 x 8 sub-voxels in x, y (computed here, not by glymph)."""
    sub = (np.arange(shape[0] * 8) + 0.5) / 8 - 0.5, (np.arange(shape[1] * 8) + 0.5) / 8 - 0.5
    inside = np.zeros((shape[0] * 8, shape[1] * 8), bool)
    for x, y in centres:
        inside |= (sub[0][:, None] - x) ** 2 + (sub[1][None, :] - y) ** 2 <= radius**2
    section = inside.reshape(shape[0], 8, shape[1], 8).mean(axis=(1, 3))
    return section[:, :, None] * np.isin(np.arange(shape[2]), z)[None, None, :]


def test_classical_spaces_are_shaped_by_their_partial_volume_at_1mm_only():
    """A 3 mm wide space along z in white matter, drawn with its true partial volume (each voxel
    the mean of 8 x 8 sub-voxels; truth: the voxels it at least half fills, 9 per slice). The
    classical method's hysteresis keeps a thinner core (5 per slice, measured): at 1 mm the shaping
    grows it to the truth exactly; a scan of thick slices (1x1x3 mm) is left as the hysteresis found
    it (Dice 0.77)."""
    from glymph.epvs.segmentation import SegmentationInputs, segment_classical

    shape, fluid = (44, 44, 44), 0.25
    fraction = spaces_along_z(shape, [(22, 22)], 1.5, range(8, 36))
    image = 1 - (1 - fluid) * fraction + np.random.default_rng(3).normal(0, 0.01, shape)
    tissues = np.full(shape, 3, np.uint8)
    image[:, :, :3], tissues[:, :, :3] = fluid, 1  # fluid far from the space: the CSF median
    truth = fraction >= 0.5
    assert truth[:, :, 20].sum() == 9

    def found(spacing) -> np.ndarray:
        inputs = SegmentationInputs(
            image.astype(np.float32), tissues, np.zeros(shape, np.uint8), np.ones(shape, bool), scan_spacing_mm=spacing
        )
        return segment_classical(inputs)

    def dice(mask: np.ndarray) -> float:
        return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())

    fine, thick = found((1.0, 1.0, 1.0)), found((1.0, 1.0, 3.0))
    assert np.array_equal(fine, truth)
    assert thick[:, :, 14:30].sum(axis=(0, 1)).max() < 9 and dice(thick) < 0.85


def test_spaces_in_a_cluster_keep_their_tissue_background():
    """Nine 3 mm wide spaces along z, 1 mm apart (a 3 x 3 cluster, partial volume from 8 x 8
    sub-voxels), found only on their centrelines: shaped to the voxels they at least half fill (81
    per slice). Their background is the tissue around them: a plain 7 mm median there is pulled
    towards fluid by the cluster itself (0.64 of the tissue's value at its centre) and kept 65 per
    slice (Dice 0.88); measured now Dice 0.96, 79 per slice (both by a script on this case)."""
    from glymph.epvs.segmentation import SegmentationInputs
    from glymph.epvs.shaping import MIN_FLUID_SHARE, shaped_by_fluid_share

    shape, fluid = (48, 48, 40), 0.25
    centres = [(x, y) for x in (20, 24, 28) for y in (20, 24, 28)]
    fraction = spaces_along_z(shape, centres, 1.5, range(8, 32))
    image = 1 - (1 - fluid) * fraction + np.random.default_rng(0).normal(0, 0.02, shape)
    tissues = np.full(shape, 3, np.uint8)
    image[:, :, :3], tissues[:, :, :3] = fluid, 1
    truth = fraction >= 0.5
    found = np.zeros(shape, bool)
    for x, y in centres:
        found[x, y, 10:30] = True
    inputs = SegmentationInputs(image.astype(np.float32), tissues, np.zeros(shape, np.uint8), np.ones(shape, bool))
    shaped = shaped_by_fluid_share(found, inputs, np.ones(shape, bool), MIN_FLUID_SHARE)[:, :, 12:28]
    middle = truth[:, :, 12:28]
    assert middle[:, :, 0].sum() == 81
    assert 2 * (shaped & middle).sum() / (shaped.sum() + middle.sum()) > 0.95

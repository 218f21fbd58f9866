"""Superficial veins on SWI phantoms: level, mid-line, counts, morphometry against the truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_module
from skimage.draw import disk, ellipse

from glymph.errors import GlymphError
from glymph.phantoms import swi_phantom
from glymph.vein import run_vein
from glymph.vein.midline import find_midline
from glymph.vein.morphometry import measure_veins, skeleton_branches
from glymph.volume import Volume, reoriented


@pytest.fixture(scope="module")
def phantom(swi_seed3):
    """Held-out seed (thresholds were set on seed 1); head turned 6 degrees and shifted."""
    return swi_seed3


@pytest.fixture(scope="module")
def result(vein_result):
    return vein_result


def matches(result, phantom):
    """(true vein, measured vein) for every true vein the segmentation overlaps most."""
    pairs = []
    for true in phantom.veins:
        hits = result.labels[phantom.truth_2d == true.id]
        hits = hits[hits > 0]
        if hits.size:
            pairs.append((true, next(v for v in result.veins if v.id == np.bincount(hits).argmax())))
    return pairs


def test_level_and_midline(result, phantom):
    # measured (seed 3): level 2.0 mm (one 2 mm slice) below the veins' level, mid-line 0.25 degrees
    # (the search's finest step) off the head's turn and 0.14 mm from the head's centre
    assert abs(result.level_z_mm - phantom.level_z_mm) <= phantom.swi.spacing[2] + 1e-6
    assert result.level_reason.startswith("lateral ventricle bodies")
    angle = np.degrees(np.arctan2(result.midline.direction[0], result.midline.direction[1]))
    assert angle == pytest.approx(-phantom.yaw_deg, abs=0.5)  # the head is turned: not the image's middle column
    assert abs(result.midline.side(np.array([7.0, -5.0]))) < 0.5  # passes through the head's centre (its shift)


def test_counts_hemispheres_and_measures(result, phantom):
    pairs = matches(result, phantom)
    # measured (seed 3, tubes drawn with sub-samples 0.25 mm apart): all 11 found, none split,
    # counts left 6/6 right 5/5, Dice 0.93; length error median 2.0 % (-10 % to -0.2 %); tortuosity
    # error at most 0.004, mean 0.002; diameter ratio 0.92-1.11 with the profile fit, mean 0.99;
    # 0.93-1.21 by area / length. With three sub-samples across the 2 mm slices (before 2026-12-07):
    # Dice 0.92, length 1.7 %, tortuosity at most 0.030, diameter 0.81-1.03 (mean 0.93)
    assert len(pairs) == len(phantom.veins)
    for hemisphere in ("left", "right"):
        assert abs(sum(v.hemisphere == hemisphere for v in result.veins) - phantom.count(hemisphere)) <= 1
    assert all(true.hemisphere == found.hemisphere for true, found in pairs)
    truth, found = phantom.truth_2d > 0, result.labels > 0
    assert 2 * (truth & found).sum() / (truth.sum() + found.sum()) > 0.9
    whole = [(t, f) for t, f in pairs if f.length_mm > 0.7 * t.length_mm]  # not split by a gap
    assert len(whole) >= 0.9 * len(pairs)
    length_errors = [abs(f.length_mm - t.length_mm) / t.length_mm for t, f in whole]
    assert np.median(length_errors) < 0.06
    ratios = [f.diameter_mm / t.diameter_mm for t, f in whole]
    assert all(0.85 < ratio < 1.15 for ratio in ratios) and 0.95 < np.mean(ratios) < 1.05
    assert all(0.9 < f.diameter_area_mm / t.diameter_mm < 1.25 for t, f in whole)
    tortuosity_errors = [abs(f.tortuosity - t.tortuosity) for t, f in whole]
    assert max(tortuosity_errors) < 0.03 and np.mean(tortuosity_errors) < 0.01


def test_storage_order_gives_the_same_veins(phantom, result):
    stored = reoriented(phantom.swi, "LPI")
    again = run_vein(stored)
    assert again.level_z_mm == pytest.approx(result.level_z_mm)
    assert [(v.hemisphere, round(v.length_mm, 3)) for v in again.veins] == [
        (v.hemisphere, round(v.length_mm, 3)) for v in result.veins
    ]


def test_oblique_scan_is_resliced(phantom, result):
    """The same head sampled on a grid tilted 8 degrees: resliced to axial, the veins are found in
    the same places and hemispheres (two interpolations across 2 mm slices blur it: measured, 9 of
    11 long veins found again)."""
    from glymph.phantoms import rotation_matrix
    from glymph.preprocess import resample

    tilt = np.eye(4)
    tilt[:3, :3] = rotation_matrix((8.0, 0.0, 0.0))
    oblique = resample(phantom.swi, Volume(np.zeros(phantom.swi.shape, np.float32), tilt @ phantom.swi.affine), order=1)
    measured = run_vein(oblique, slab_center_mm=result.level_z_mm)
    assert measured.level_z_mm == pytest.approx(result.level_z_mm, abs=1.0)
    long_veins = [v for v in result.veins if v.length_mm > 15]
    found = 0
    for vein in long_veins:
        nearest = min(measured.veins, key=lambda m: np.linalg.norm(np.subtract(m.centroid, vein.centroid)))
        if np.linalg.norm(np.subtract(nearest.centroid, vein.centroid)) < 8.0:
            found += 1
            assert nearest.hemisphere == vein.hemisphere
    assert found >= 0.8 * len(long_veins)


def test_a_2d_minip_can_be_the_input(result):
    """The whole-head MinIP slice (as a scanner exports it, skull included) analysed as is."""
    k = round(result.minip_volume.world_to_voxel(np.array([0.0, 0.0, result.level_z_mm]))[2])
    affine = result.minip_volume.affine.copy()
    affine[:3, 3] = result.minip_volume.voxel_to_world(np.array([0, 0, k]))
    again = run_vein(Volume(result.minip_volume.data[:, :, k : k + 1].copy(), affine), subject="2d")
    assert again.level_reason == "2D MinIP input"
    for hemisphere in ("left", "right"):
        assert (
            abs(
                sum(v.hemisphere == hemisphere for v in again.veins)
                - sum(v.hemisphere == hemisphere for v in result.veins)
            )
            <= 2
        )


def test_no_veins_is_a_valid_result():
    empty = run_vein(swi_phantom(veins_per_hemisphere=(0, 0), seed=5).swi)
    rows = empty.hemisphere_rows()
    assert [row["count"] for row in rows] == [0, 0] and np.isnan(rows[0]["diameter_mm"])


def test_the_automatic_brain_mask_stops_at_the_skull(phantom):
    """The median filter of ``median_otsu`` blurs the thin dark skull away, and the mask ran on into
    the scalp (up to 10.9 mm outside the brain in the analysis slab of this phantom, where scalp
    veins were then counted). Now it must end within a voxel of the phantom's true brain and still
    hold the cortex where the veins run (3-20 mm inside the brain)."""
    from scipy import ndimage

    from glymph.vein.minip import axial_ras
    from glymph.vein.pipeline import brain_mask_swi

    axial = axial_ras(phantom.swi)  # already axial RAS: the same voxels as the phantom's truth
    mask = brain_mask_swi(axial)
    truth = np.asarray(phantom.brain_mask.data, bool)
    outside = ndimage.distance_transform_edt(~truth, sampling=axial.spacing)
    inside = ndimage.distance_transform_edt(truth, sampling=axial.spacing)
    k = round(axial.world_to_voxel(np.array([0.0, 0.0, phantom.level_z_mm]))[2])
    slab = slice(k - 5, k + 6)  # the 20 mm slab of 2 mm slices
    assert outside[mask].max() <= 1.5
    cortex = ((inside > 3) & (inside < 20))[:, :, slab]
    assert mask[:, :, slab][cortex].mean() > 0.99


def test_the_second_vein_generator_draws_what_its_truth_says():
    """``curving_swi_phantom`` (the benchmark's check on veins glymph was not tuned on): each true
    vein is labelled on the plane, lies in its hemisphere, is as wide as its truth says (the dark
    pixels across it on the noise-free MinIP) and more curl makes more tortuous veins."""
    from scipy import ndimage

    from glymph.phantoms import curving_swi_phantom, rotation_matrix
    from glymph.vein.minip import axial_ras, minip_slice, slice_at

    gentle = curving_swi_phantom(voxel_mm=(1.0, 1.0, 2.0), noise=0.0, seed=11, curl=0.3)
    curly = curving_swi_phantom(voxel_mm=(1.0, 1.0, 2.0), noise=0.0, seed=11, curl=0.9)
    assert np.mean([v.tortuosity for v in curly.veins]) > np.mean([v.tortuosity for v in gentle.veins]) + 0.1
    for phantom in (gentle, curly):
        assert [phantom.count("left"), phantom.count("right")] == [5, 5]
        axial = axial_ras(phantom.swi)
        minip = minip_slice(axial, slice_at(axial, phantom.level_z_mm), 20.0)
        for vein in phantom.veins:
            pixels = phantom.truth_2d == vein.id
            assert pixels.sum() >= 0.7 * vein.length_mm  # a thin vein: about a pixel per mm along it
            # in the head's own frame (turned 4 degrees and shifted by (3, -2) mm): right is x > 0
            head_xy = (np.array(vein.centreline) - (3.0, -2.0)) @ rotation_matrix((0.0, 0.0, 4.0))[:2, :2]
            assert np.all((head_xy[:, 0] > 0) == (vein.hemisphere == "right"))
            # the noise-free MinIP is darker on the pixels its truth marks than 2-3 pixels beside them
            beside = ndimage.binary_dilation(pixels, iterations=3) & ~ndimage.binary_dilation(pixels, iterations=1)
            assert np.median(minip[pixels]) < np.median(minip[beside & (phantom.truth_2d == 0)])


def test_both_vein_generators_draw_a_thin_vein_in_a_thick_slice_by_its_chord():
    """A 0.9 mm vein across 0.8 x 0.8 x 2 mm voxels, its axis 0.3 mm above a slice boundary: each
    voxel holds the part of the vein's cross-section inside it (computed here by integrating the
    chord's overlap with the slice across the pixel). Three sub-samples across a 2 mm slice, as the
    generators had before, are 0.67 mm apart: a voxel's share is then off by up to a fifth of the deepest one's."""
    from glymph.phantoms.geometry import subsamples_for, tube_fraction, voxel_box
    from glymph.phantoms.swi_curves import _draw
    from glymph.volume import Volume

    radius, x0, z0, pixel, thickness = 0.45, 8.13, 5.3, 0.8, 2.0
    affine = np.diag([pixel, pixel, thickness, 1.0])
    grid = Volume(np.zeros((20, 20, 6), np.float32), affine)
    voxels = voxel_box(np.zeros(3), np.array(grid.shape), grid.shape)
    line = np.array([[x0, -5.0, z0], [x0, 25.0, z0]])

    def expected(i: int, k: int) -> float:
        x = np.linspace(pixel * i - pixel / 2, pixel * i + pixel / 2, 4001)
        chord = np.sqrt(np.clip(radius**2 - (x - x0) ** 2, 0, None))
        lo, hi = thickness * k - thickness / 2, thickness * k + thickness / 2
        inside = np.clip(np.minimum(z0 + chord, hi) - np.maximum(z0 - chord, lo), 0, None)
        return float(inside.mean() / thickness)

    truth = np.array([[expected(i, k) for k in range(6)] for i in range(20)])
    drawn = np.zeros(grid.shape, np.float32)
    _draw(
        grid,
        np.column_stack([np.full(151, x0), np.linspace(-5, 25, 151), np.full(151, z0)]),
        np.full(151, radius),
        drawn,
    )
    fractions = {
        "swi_phantom": tube_fraction(voxels, affine, line, radius, subsamples_for(grid.spacing)).reshape(grid.shape),
        "curving_swi_phantom": drawn,
        "three per axis": tube_fraction(voxels, affine, line, radius, 3).reshape(grid.shape),
    }
    errors = {name: np.abs(f[:, 10, :] - truth).max() for name, f in fractions.items()}
    assert truth.max() > 0.15 and (truth[:, 2] > 0).any() and (truth[:, 3] > 0).any()  # it straddles slices 2 and 3
    assert errors["swi_phantom"] < 0.06 * truth.max() and errors["curving_swi_phantom"] < 0.06 * truth.max()
    assert errors["three per axis"] > 0.15 * truth.max()


def test_bad_slabs(phantom):
    with pytest.raises(GlymphError, match=r"needs .* slices but the image has"):
        run_vein(phantom.swi, slab_mm=500.0)
    with pytest.raises(GlymphError, match="lies outside the image"):
        run_vein(phantom.swi, slab_center_mm=400.0)
    bottom = float(phantom.swi.voxel_to_world(np.array([0, 0, 1]))[2])
    with pytest.raises(GlymphError, match="extends beyond the image"):
        run_vein(phantom.swi, slab_center_mm=bottom)
    with pytest.raises(GlymphError, match="must be a 3D image"):
        run_vein(Volume(np.ones((4, 4, 4, 2), np.float32), np.eye(4)))


def test_midline_of_a_symmetric_pattern():
    n = 200
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x, y = ii - 100.0, jj - 100.0
    theta = np.deg2rad(9.0)
    along = np.array([np.sin(theta), np.cos(theta)])
    across = np.array([along[1], -along[0]])
    u = (x - 12) * across[0] + (y + 5) * across[1]
    v = (x - 12) * along[0] + (y + 5) * along[1]
    brain = (u / 60) ** 2 + (v / 80) ** 2 < 1
    image = (brain * (1 + 0.5 * np.cos(np.abs(u) / 5.0) + 0.3 * np.sin(v / 7.0))).astype(np.float32)
    line = find_midline(image, brain, np.array([[1.0, 0, -100], [0, 1.0, -100], [0, 0, 1]]))
    assert np.degrees(np.arctan2(line.direction[0], line.direction[1])) == pytest.approx(9.0, abs=0.3)
    assert abs(line.side(np.array([12.0, -5.0]))) < 0.5


def test_morphometry_of_drawn_shapes():
    spacing = 0.5
    image = np.zeros((300, 300), bool)
    image[48:52, 50:151] = True  # straight, 2 mm wide, 50 mm long
    for a in np.linspace(0, np.pi / 2, 400):  # quarter circle of radius 30 mm, 2 mm wide
        rr, cc = disk((200 + 60 * np.cos(a), 100 + 60 * np.sin(a)), 2.0, shape=image.shape)
        image[rr, cc] = True
    affine = np.array([[spacing, 0, -75], [0, spacing, -75], [0, 0, 1.0]])
    _, veins = measure_veins(image, affine, lambda p: p[:, 0])
    straight, arc = sorted(veins, key=lambda v: v.tortuosity)
    assert straight.tortuosity == pytest.approx(1.0, abs=0.01) and straight.length_mm == pytest.approx(49.0, abs=1.5)
    assert straight.diameter_mm == pytest.approx(2.0, rel=0.1) and straight.hemisphere == "left"
    assert arc.tortuosity == pytest.approx((np.pi / 2) / np.sqrt(2), abs=0.02)  # arc / chord of a quarter circle
    assert arc.tortuosity_vmtk == pytest.approx(arc.tortuosity - 1)
    assert arc.diameter_mm == pytest.approx(2.0, rel=0.1) and arc.hemisphere == "right"


@pytest.mark.parametrize(
    "wavelength, amplitude, diameter, pixel",
    [(5.0, 1.2, 0.8, 0.5), (6.0, 1.4, 0.9, 0.6), (8.0, 2.2, 1.2, 0.8), (14.0, 3.5, 2.5, 1.0), (10.0, 1.5, 1.0, 1.0)],
)
def test_tortuous_thin_veins_keep_their_tortuosity_and_diameter(wavelength, amplitude, diameter, pixel):
    """Tortuosity 1.19-1.54 with wiggles down to 5 mm, diameters 0.8-2.5 mm on 0.5-1.0 mm pixels:
    tortuosity within 0.05 and the profile diameter within 15 % (measured: 0.041 and 12 % at
    worst), where area / length is 15-39 % too wide; length within 5 %."""
    from glymph.phantoms import tortuous_vein_image

    truth = tortuous_vein_image(wavelength, amplitude, diameter, pixel)
    _, veins = measure_veins(truth.segmentation, truth.affine, lambda p: p[:, 0], image=truth.image)
    assert len(veins) == 1
    vein = veins[0]
    assert vein.tortuosity == pytest.approx(truth.tortuosity, abs=0.05)
    assert vein.length_mm == pytest.approx(truth.length_mm, rel=0.05)
    assert vein.diameter_mm == pytest.approx(diameter, rel=0.15)
    assert abs(vein.diameter_mm - diameter) < abs(vein.diameter_area_mm - diameter)


@pytest.mark.parametrize("pixel", [0.5, 0.8])
def test_noise_does_not_lengthen_a_straight_vein(pixel):
    """A straight 1.2 mm vein at a contrast-to-noise of 4 (the SNR-10 SWI phantoms' thin veins),
    five noise draws: tortuosity within 0.006 of 1 in the median and 0.03 at worst. The smoothing
    spline fitted on every centre point (0.5 pixel apart, correlated noise) measured 1.023-1.033
    in the median (up to 1.043); on points a pixel apart 1.003-1.004 (up to 1.020)."""
    from glymph.phantoms import tortuous_vein_image

    excess = []
    for seed in range(5):
        truth = tortuous_vein_image(None, 0.0, 1.2, pixel, snr=4.0, seed=seed)
        _, veins = measure_veins(truth.segmentation, truth.affine, lambda p: p[:, 0], image=truth.image, noise=0.125)
        excess.append(max(veins, key=lambda v: v.length_mm).tortuosity - 1)
    assert np.median(excess) < 0.006 and max(excess) < 0.03


def test_a_centreline_end_that_folds_back_is_dropped():
    """A path that turns back at an end and runs along itself (0.6 pixel beside it) loses that
    end, at either end; a sinusoid's apex turning by more than 90 degrees in one step, which goes
    on away from itself, is kept, and so is a straight path."""
    from glymph.vein.centreline import without_end_folds

    straight = np.column_stack([np.arange(0.0, 10.0, 0.5), np.zeros(20)])
    hook = np.column_stack([9.5 - np.arange(1, 7) * 0.5, np.full(6, 0.6)])
    assert np.array_equal(without_end_folds(straight), straight)
    assert np.array_equal(without_end_folds(np.vstack([straight, hook])), straight)
    assert np.array_equal(without_end_folds(np.vstack([hook[::-1], straight[::-1]])), straight[::-1])
    arm = np.column_stack([np.arange(-3.0, 1.6, 0.5), np.zeros(10)])
    away = np.array([[1.3, 0.45], [0.9, 0.8], [0.5, 1.15], [0.1, 1.5], [-0.3, 1.85]])  # 120 degrees on, then away
    arms = np.vstack([arm, away])
    assert (np.diff(arms, axis=0)[1:] * np.diff(arms, axis=0)[:-1]).sum(axis=1).min() < 0  # it turns by > 90 degrees
    assert np.array_equal(without_end_folds(arms), arms)
    # a U-turn spread over several steps (38 degrees each) whose arms lie 1.5 pixels apart, inside a
    # 2-pixel-wide vein: the part heading back is dropped when the reach is the vein's width, kept at 1 pixel
    angles = np.arange(1, 5) * 0.5 / 0.75
    bend = np.column_stack([9.5 + 0.75 * np.sin(angles), 0.75 - 0.75 * np.cos(angles)])
    back = np.column_stack([bend[-1, 0] - np.arange(1, 7) * 0.5, np.full(6, 1.5)])
    u_turn = np.vstack([straight, bend, back])
    assert (np.diff(u_turn, axis=0)[1:] * np.diff(u_turn, axis=0)[:-1]).sum(axis=1).min() > 0  # no step turns by 90
    kept = without_end_folds(u_turn, reach=2.0)  # the bend up to where it heads back
    assert np.array_equal(kept, u_turn[: len(kept)]) and len(straight) <= len(kept) < len(straight) + len(bend)
    assert np.array_equal(without_end_folds(u_turn, reach=1.0), u_turn)


def test_an_end_is_extended_along_the_path_not_its_last_tiny_step():
    """Resampling leaves a last step a few hundredths of a pixel long that can point anywhere
    (seed 408 of ``benchmarks/vein.py --learned --first-seed 400``: an end extended 3 mm sideways):
    the end goes on along the chord from the last point before it."""
    from glymph.vein.centreline import with_end

    path = np.vstack([np.column_stack([np.arange(0.0, 10.0, 0.5), np.zeros(20)]), [[9.51, 0.02]]])
    extended = with_end(path, 3.0)
    assert abs(extended[-1, 0] - 12.5) < 0.05 and abs(extended[-1, 1]) < 0.15


def test_fragments_of_tortuous_veins_keep_a_plausible_tortuosity():
    """Strongly tortuous veins at SNR 10 on 0.8 mm pixels break into pieces, some ending in a tight
    bend (``benchmarks/vein.py --learned``, seed 215): an 11 mm piece's centreline folded back along
    itself there, its end was then extended backwards, and it measured tortuosity 5.1 (true veins
    1.44-1.90). Every piece's centreline now goes one way at its ends and measures at most 2.2.
    Since the phantoms draw thin veins by their chord (2026-12-07) no piece of this head folds, with
    or without ``without_end_folds`` (9 veins found, tortuosity at most 1.81; seeds 216-223 the same,
    by a script outside the repository): this is now a check of plausible pieces, and the fold
    itself is tested by ``test_a_centreline_end_that_folds_back_is_dropped``."""
    from glymph.phantoms import VeinShapes

    phantom = swi_phantom(
        voxel_mm=(0.8, 0.8, 2.0),
        noise=0.08,
        seed=215,
        shapes=VeinShapes(amplitude_mm=(2.0, 3.0), wavelength_mm=(7.0, 10.0)),
    )
    veins = run_vein(phantom.swi).veins
    assert len(veins) >= 8 and max(v.tortuosity for v in phantom.veins) < 2.0
    for vein in veins:
        step = np.diff(np.array(vein.centreline), axis=0)
        assert (step[1] @ step[0]) > 0 and (step[-1] @ step[-2]) > 0
    assert max(v.tortuosity for v in veins) < 2.2


def test_a_wide_straight_vein_of_uneven_darkness_stays_straight():
    """A vein wider than the slices shows a flat-bottomed dip on the MinIP, and where it runs
    obliquely through them its darkness and width change along it. The tube model (half-chords)
    cannot fit that dip; fitted anyway, its axis waved across the flat bottom and this straight
    vein measured tortuosity 1.124. It is fitted only where the vein bends tightly."""
    rng = np.random.default_rng(4)
    i, j = np.meshgrid(np.arange(120), np.arange(120), indexing="ij")
    distance = np.abs(i - (60 + 0.15 * (j - 60))) / np.hypot(1.0, 0.15)  # slightly oblique to the pixels
    radius = 2.2 * (1 + 0.25 * np.sin(2 * np.pi * j / 37.0))  # pixels (0.5 mm): 1.65-2.75 mm wide
    inside = np.clip(radius + 0.5 - distance, 0, 1) * ((j >= 20) & (j < 100))
    image = 1.0 - (0.45 + 0.35 * np.abs(np.sin(np.pi * j / 16.0))) * inside + rng.normal(0, 0.04, i.shape)
    affine = np.diag([0.5, 0.5, 1.0])
    _, veins = measure_veins(inside > 0.3, affine, lambda p: p[:, 0] - 1000, image=image, noise=0.04)
    assert len(veins) == 1
    chord = 40.0 * np.hypot(1.0, 0.15)  # mm, the drawn vein's ends
    assert veins[0].tortuosity < 1.02 and abs(veins[0].length_mm - chord) < 0.1 * chord


def test_loops_in_a_fitted_axis_are_cut_out():
    """Where a vein bends with a radius of curvature below its own radius, the tube model's axis can
    swing round the bend's all-dark inside and cross itself; each loop is cut out at its crossing."""
    from glymph.vein.centreline import first_crossing, without_loops
    from glymph.vein.tube_model import arc_length

    x = np.arange(0.0, 40.0, 0.5)
    wave = np.column_stack([x, 3.0 * np.sin(2 * np.pi * x / 12.0)])
    assert first_crossing(wave) is None
    np.testing.assert_array_equal(without_loops(wave), wave)  # nothing to cut: unchanged
    # two small loops (circles of radius 0.8 and 1.2 px) inserted at two points of the wave
    looped = []
    for k, point in enumerate(wave):
        looped.append(point)
        if k in (20, 50):
            radius = 0.8 if k == 20 else 1.2
            angle = np.linspace(0, 2 * np.pi, 24, endpoint=False)[1:]
            looped.extend(point + radius * np.column_stack([np.sin(angle), 1 - np.cos(angle)]))
    looped = np.array(looped)
    assert arc_length(looped)[-1] > arc_length(wave)[-1] + 2 * np.pi * 1.5
    cut = without_loops(looped)
    assert first_crossing(cut) is None
    assert abs(arc_length(cut)[-1] - arc_length(wave)[-1]) < 0.5  # pixels, of about 53
    np.testing.assert_allclose(cut[[0, -1]], wave[[0, -1]])


def test_a_minip_vein_is_measured_on_its_own_slices():
    """A 1.5 mm vein that climbs 10 mm (five 2 mm slices) along its 47 mm in an 11-slice slab, with
    darker tissue (0.8) in another slice: the MinIP's background is that tissue, which hides the
    edges of the vein's dip there. Drawn here with partial volume (4 sub-samples per voxel axis)."""
    from glymph.vein.centreline import SlabSlices
    from glymph.vein.morphometry import noise_sd

    diameter, pixel, n, sub, slices = 1.5, 0.8, 60, 4, 11
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    across = (np.arange(n)[:, None] + offsets).ravel() * pixel
    along = across.copy()
    z = (np.arange(slices)[:, None] + offsets).ravel() * 2.0
    height = 6.0 + 10.0 * (along - along[0]) / (along[-1] - along[0])
    inside = (across[:, None, None] - 24.1) ** 2 + (z[None, None, :] - height[None, :, None]) ** 2 <= (
        diameter / 2
    ) ** 2
    fraction = inside.reshape(n, sub, n, sub, slices, sub).mean(axis=(1, 3, 5))
    affine = np.array([[pixel, 0, 0], [0, pixel, 0], [0, 0, 1.0]])
    centre = np.column_stack([np.full(n - 10, 24.1 / pixel - 0.5), np.arange(5, n - 5, dtype=float)])
    centre_height = 6.0 + 10.0 * ((centre[:, 1] + 0.5) * pixel - along[0]) / (along[-1] - along[0])
    for seed in (1, 2):
        slab = 1 - fraction + 0.12 * fraction
        slab[:, :, 0] = 0.8
        slab += np.random.default_rng(seed).normal(0, 0.02, slab.shape)
        minip = slab.min(axis=2)
        vein = minip < 0.7
        vein[:, :3] = vein[:, -3:] = False
        noise = noise_sd(minip, np.ones(minip.shape, bool))
        (on_slices,) = measure_veins(vein, affine, lambda p: p[:, 0], image=minip, noise=noise, slab=slab)[1]
        (on_minip,) = measure_veins(vein, affine, lambda p: p[:, 0], image=minip, noise=noise)[1]
        assert abs(on_slices.diameter_mm / diameter - 1) < 0.1
        assert on_minip.diameter_mm / diameter < 0.8  # what the MinIP alone reads
        darkest = SlabSlices(slab).darkest(centre)
        assert np.all(np.abs(darkest - np.floor(centre_height / 2.0)) <= 1)  # point by point, as it climbs


def test_a_vein_wider_than_the_slices_is_measured_with_their_thickness():
    """Veins of 2.4 and 3 mm, wider than the 2 mm slices, on 0.5 mm pixels, drawn here with partial
    volume (4 sub-samples per voxel axis): no voxel is darker than all vein, so the dip is
    flat-bottomed. Centred in a slice they are read within 2 % with the slices' thickness, where
    the unbounded half-chord read them 6-9 % wide; straddling two slices or between, within 10 %."""
    from glymph.vein.morphometry import noise_sd

    pixel, n, sub, slices = 0.5, 60, 4, 7
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    across = (np.arange(n)[:, None] + offsets).ravel() * pixel
    z = (np.arange(slices)[:, None] + offsets).ravel() * 2.0  # slice k centred at 2k mm
    affine = np.array([[pixel, 0, 0], [0, pixel, 0], [0, 0, 1.0]])
    for diameter in (2.4, 3.0):
        for height in (8.0, 7.5, 7.0):  # centred in slice 4, between, on the border of slices 3 and 4
            inside = (across[:, None] - 14.1) ** 2 + (z[None, :] - height) ** 2 <= (diameter / 2) ** 2
            fraction = inside.reshape(n, sub, slices, sub).mean(axis=(1, 3))[:, None, :]
            slab = 1 - 0.8 * fraction + np.random.default_rng(1).normal(0, 0.02, (n, n, slices))
            minip = slab.min(axis=2)
            vein = minip < 0.75
            vein[:, :3] = vein[:, -3:] = False
            noise = noise_sd(minip, np.ones(minip.shape, bool))
            error = {}
            for thickness in (2.0, None):
                (measured,) = measure_veins(
                    vein, affine, lambda p: p[:, 0], image=minip, noise=noise, slab=slab, slice_mm=thickness
                )[1]
                error[thickness] = measured.diameter_mm / diameter - 1
            assert abs(error[2.0]) < (0.02 if height == 8.0 else 0.1)
            if height == 8.0:
                assert error[None] > 0.05


def test_a_diameter_read_with_the_image_darkness_darkens_the_profile_as_much():
    """Hand-computed: a tube fit of diameter 3 px and darkness 0.1 per pixel of chord, in an image
    whose veins darken 0.4 per pixel: the tube of darkness 0.4 with the same dip area (darkness x
    pi r^2 / 2, the integral of ``pixel_profile``) is 1.5 px wide; within a factor
    ``DARKNESS_BAND`` of the image's darkness a fit is left as it is."""
    from glymph.vein.centreline import pixel_profile
    from glymph.vein.morphometry import COLLAPSED_DIAMETER_PX, DARKNESS_BAND, with_image_darkness

    corrected = with_image_darkness(3.0, 0.1, 0.4)
    assert corrected == pytest.approx(1.5)
    fine = np.arange(-8.0, 8.0, 0.01)
    area = lambda d, k: k * pixel_profile(fine, d / 2, np.array([1.0, 0.0])).sum() * 0.01  # noqa: E731
    assert area(corrected, 0.4) == pytest.approx(area(3.0, 0.1), rel=1e-3)
    assert area(3.0, 0.1) == pytest.approx(0.1 * np.pi * 1.5**2 / 2, rel=1e-3)
    assert with_image_darkness(3.0, 0.4 / DARKNESS_BAND * 1.01, 0.4) == 3.0
    assert with_image_darkness(0.5, 1.6, 0.4) == pytest.approx(1.0)  # a narrow deep fit: wider
    assert with_image_darkness(3.0, 0.1, float("nan")) == 3.0  # no vein measured: nothing to read with
    # a collapsed fit is always read with the image's darkness; without it there is no width at all
    assert with_image_darkness(0.1, 4.0, 1.0) == pytest.approx(0.2)
    assert np.isnan(with_image_darkness(COLLAPSED_DIAMETER_PX / 2, 4.0, float("nan")))


@pytest.fixture(scope="module")
def curling_thin_veins():
    """The second generator's seed 709 (curl 0.9, 1 mm pixels, SNR 25; ``benchmarks/vein.py
    --curving``) and its result: thin faint veins, some 0.9 mm wide."""
    from glymph.phantoms import curving_swi_phantom

    phantom = curving_swi_phantom(voxel_mm=(1.0, 1.0, 2.0), noise=0.8 / 25, seed=709, curl=0.9)
    return phantom, run_vein(phantom.swi)


def test_thin_faint_veins_are_not_measured_as_wide_ones(curling_thin_veins):
    """Seed 709's left hemisphere's 1.0 mm vein was measured 2.12 mm wide and its 1.04 mm vein
    dropped as too short for its width (3.26 mm), a mean diameter 27 % too wide; read with the
    image's darkness both are kept and measured 1.06 and 1.31 mm, the mean 5 % off (printed by a
    script outside the repository). With the veins drawn by their chord's share of each slice
    (2026-12-07) they read 1.33 and 1.36 mm (also by a script), the mean 8 % wide (1.74 and 1.36 mm
    with a darkness band of 2)."""
    phantom, result = curling_thin_veins
    pairs = [(t, f) for t, f in matches(result, phantom) if t.hemisphere == "left"]
    assert len(pairs) == phantom.count("left") == sum(v.hemisphere == "left" for v in result.veins)
    for true, found in pairs:
        if true.diameter_mm < 1.1:
            assert found.diameter_mm < 1.4
    measured = np.mean([v.diameter_mm for v in result.veins if v.hemisphere == "left"])
    assert measured / np.mean([v.diameter_mm for v in phantom.veins if v.hemisphere == "left"]) == pytest.approx(
        1.0, abs=0.15
    )


def test_a_thin_vein_whose_tube_fit_collapses_is_still_measured(curling_thin_veins):
    """Seed 709's right hemisphere: a 0.88 mm vein (tortuosity 1.49) is found as a 13.5 mm piece
    4 noise sd deep, whose tube fit collapses to a line (0.2 pixel: its profile is the blur's).
    It was dropped as "no tube" (right hemisphere 2 veins of 5, mean diameter 55 % wide); its
    diameter is now read with the image's darkness, 0.89 mm (a script outside the repository)."""
    phantom, result = curling_thin_veins
    thin = next(v for v in phantom.veins if v.hemisphere == "right" and v.diameter_mm < 0.9 and v.tortuosity > 1.4)
    found = [f for t, f in matches(result, phantom) if t is thin]
    assert found, "the 0.88 mm vein is not measured"
    assert found[0].diameter_mm == pytest.approx(thin.diameter_mm, rel=0.2)
    assert found[0].tortuosity > 1.3


def test_a_short_piece_of_a_thin_vein_is_kept(curling_thin_veins):
    """Seed 709's right hemisphere: a 1.08 mm vein of tortuosity 2.63 is found only as two short
    pieces (5.8 and 5.5 mm). Their area / length diameter is mostly the pixels' (1.57 mm), and the
    elongation test (4 times the width) dropped both as dots. The profile reads 1.17 mm, under
    ``THIN_VEIN_PX`` pixels, so it alone is their width and they are kept (a script outside the
    repository; the second piece is counted as a second vein)."""
    from glymph.vein.morphometry import MIN_ELONGATION, elongation_width

    assert elongation_width(1.6, 0.9, 1.0) == 0.9  # thin on 1 mm pixels: the profile alone
    assert elongation_width(1.6, 1.6, 1.0) == 1.6  # at 1.5 pixels or wider: the larger of the two
    assert elongation_width(2.7, 2.5, 1.0) == 2.7
    assert elongation_width(1.0, 1.2, 0.5) == 1.2
    phantom, result = curling_thin_veins
    curly = next(v for v in phantom.veins if v.hemisphere == "right" and v.tortuosity > 2.5)
    found = [f for t, f in matches(result, phantom) if t is curly]
    assert found, "the curly thin vein is not measured"
    assert found[0].length_mm < MIN_ELONGATION * found[0].diameter_area_mm  # kept by the thin-vein rule alone
    assert found[0].diameter_mm == pytest.approx(curly.diameter_mm, rel=0.2)


def test_skeleton_branches_match_skan():
    """glymph's branch split (written to avoid skan's per-process numba compilation) against skan
    itself, on the skeletons of random blobs: branches, loops and clustered junctions."""
    skan = require_module("skan")
    from skimage.filters import gaussian
    from skimage.morphology import skeletonize

    for seed in range(6):
        blobs = gaussian(np.random.default_rng(seed).random((120, 140)), 3) > 0.5
        skeleton = np.pad(skeletonize(blobs), ((0, 14), (0, 0)))
        diamond = np.add.outer(np.abs(np.arange(-5, 6)), np.abs(np.arange(-5, 6))) == 5
        skeleton[-12:-1, 10:21] |= diamond  # a closed loop: no end point, no junction
        coords, branches = skeleton_branches(skeleton)
        reference = skan.Skeleton(skeleton)
        assert np.array_equal(coords, reference.coordinates)
        ours = sorted(min(tuple(b), tuple(b[::-1])) for b in branches)  # each branch's pixels, either direction
        theirs = sorted(min(tuple(p), tuple(p[::-1])) for p in map(reference.path, range(reference.n_paths)))
        assert len(ours) > 5 and ours == theirs


def test_ends_equally_near_two_others_are_still_paired_with_their_mutual_nearest():
    """Four pieces' ends, worked out by hand: a (0, 0) is 2 pixels from both b (0, 2) and c (2, 0);
    b's nearest is d (0, 3), 1 pixel away, and c's nearest is a. So b pairs with d and a with c. A
    nearest end chosen by index among a's tie (b) would lose the pair a-c. Every end is paired once."""
    from glymph.vein.segmentation import PieceEnds

    ends = np.array([[0, 0], [0, 2], [2, 0], [0, 3]])
    found = PieceEnds(np.zeros((1, 1), int), np.zeros((1, 1), bool), ends, np.array([1, 2, 3, 4]))
    assert found.mutual_nearest(5.0, 1.0) == [(1, 3, 1.0), (0, 2, 2.0)]
    assert found.mutual_nearest(1.5, 1.0) == [(1, 3, 1.0)]  # a-c is 2 mm apart at 1 mm pixels
    # two ends equally near one end, each with it as their nearest: one pair only, the first by index
    ends = np.array([[0, 0], [0, 2], [0, -2]])
    found = PieceEnds(np.zeros((1, 1), int), np.zeros((1, 1), bool), ends, np.array([1, 2, 3]))
    assert found.mutual_nearest(5.0, 1.0) == [(0, 1, 2.0)]


def test_a_vein_broken_by_a_faint_stretch_is_joined_and_separate_veins_are_not():
    """A tortuous vein whose segmentation misses 2.4 mm of it (where the MinIP still shows it dark)
    is joined into one vein; the same cut where the MinIP shows brain (no dark ridge) is not; two
    veins end to end 6 mm apart are not."""
    from skimage.measure import label

    from glymph.phantoms import tortuous_vein_image
    from glymph.vein.segmentation import VeinInputs, bridge_gaps

    tube = tortuous_vein_image(8.0, 2.5, 1.4, 0.8, snr=40.0, seed=3)
    brain = np.ones_like(tube.segmentation)
    centre = np.argwhere(tube.segmentation).mean(axis=0)
    ij = np.stack(np.meshgrid(*(np.arange(n) for n in brain.shape), indexing="ij"), -1) * 0.8
    along = np.array([np.cos(0.3), np.sin(0.3)])  # the phantom's chord direction
    position = (ij - centre * 0.8) @ along
    cut = tube.segmentation & (np.abs(position) < 1.2)
    broken = tube.segmentation & ~cut
    assert label(broken, connectivity=2).max() == 2
    joined = bridge_gaps(broken, VeinInputs(tube.image, brain, 0.8))
    assert label(joined, connectivity=2).max() == 1
    assert (joined & ~tube.segmentation).sum() <= 8  # the join is a line across the gap, not a blob
    _, veins = measure_veins(joined, tube.affine, lambda p: p[:, 0], image=tube.image)
    assert len(veins) == 1 and veins[0].tortuosity == pytest.approx(tube.tortuosity, abs=0.1)

    no_ridge = np.where(np.abs(position) < 1.6, 1.0, tube.image)
    assert label(bridge_gaps(broken, VeinInputs(no_ridge, brain, 0.8)), connectivity=2).max() == 2

    apart = tube.segmentation & ~(np.abs(position) < 3.0)
    image = np.where(np.abs(position) < 3.0, 1.0, tube.image)
    assert label(bridge_gaps(apart, VeinInputs(image, brain, 0.8)), connectivity=2).max() == 2


def test_a_vein_broken_by_a_longer_faint_stretch_is_joined_along_it():
    """A moderately tortuous vein at SNR 10 whose segmentation misses 6 mm of it (beyond the
    straight join's 4 mm), where the MinIP shows it at a third of its darkness, is joined along the
    dark route into one vein of about its tortuosity; where the MinIP shows brain instead, it is
    not."""
    from skimage.measure import label

    from glymph.phantoms import tortuous_vein_image
    from glymph.vein.segmentation import VeinInputs, bridge_gaps

    tube = tortuous_vein_image(14.0, 2.0, 1.4, 0.8, snr=1e9, seed=3)
    brain = np.ones_like(tube.segmentation)
    centre = np.argwhere(tube.segmentation).mean(axis=0)
    ij = np.stack(np.meshgrid(*(np.arange(n) for n in brain.shape), indexing="ij"), -1) * 0.8
    position = (ij - centre * 0.8) @ np.array([np.cos(0.3), np.sin(0.3)])  # along the phantom's chord
    stretch = np.abs(position) < 3.0
    broken = tube.segmentation & ~stretch
    assert label(broken, connectivity=2).max() == 2
    noise = np.random.default_rng(0).normal(0, 0.05, brain.shape)
    faint = 1 - (1 - tube.image) * np.where(stretch, 1 / 3, 1) + noise
    joined = bridge_gaps(broken, VeinInputs(faint, brain, 0.8))
    assert label(joined, connectivity=2).max() == 1
    _, veins = measure_veins(joined, tube.affine, lambda p: p[:, 0], image=faint, noise=0.05)
    assert len(veins) == 1 and veins[0].tortuosity == pytest.approx(tube.tortuosity, abs=0.15)
    brain_only = np.where(stretch, 1.0, 1 - (1 - tube.image)) + noise
    assert label(bridge_gaps(broken, VeinInputs(brain_only, brain, 0.8)), connectivity=2).max() == 2


def test_two_veins_whose_ends_line_up_are_not_joined_along_grey_matter():
    """Two tightly wiggling veins of a phantom (1 mm pixels, SNR 40, wavelengths 5-8 mm) whose ends
    face each other 8 mm apart along the cortex: the route between them is grey matter, a few noise
    sd darker than the brain around it at this SNR but nothing like the veins themselves. They were
    joined into one vein (70 mm, tortuosity 1.30 for true veins of 28 and 42 mm, 1.37 and 1.31); the
    route must also be a fair part (``ROUTE_DEPTH``) as dark as the pieces it joins."""
    from glymph.phantoms import VeinShapes

    shapes = VeinShapes(radius_mm=(0.4, 1.25), amplitude_mm=(1.0, 2.0), wavelength_mm=(5.0, 8.0))
    phantom = swi_phantom(voxel_mm=(1.0, 1.0, 2.0), noise=0.02, seed=512, shapes=shapes)
    result = run_vein(phantom.swi)
    for vein in result.veins:
        hits = phantom.truth_2d[result.labels == vein.id]
        overlapped = [i for i in np.unique(hits[hits > 0]) if (hits == i).sum() >= 10]
        assert len(overlapped) <= 1, f"vein {vein.id} spans true veins {overlapped}"


def test_a_veins_depth_and_diameter_are_read_where_the_segmentation_found_it():
    """A straight 1.2 mm vein (0.5 mm pixels, noise sd 0.02) whose last 21 of 30 mm are faint (a
    fortieth of its darkness, 0.6 noise sd: a stretch followed or joined across, not segmented).
    Measured on the whole segmentation, its depth along the centreline is the faint stretch's and
    the contrast test drops it; read where the segmentation found it (``found``: the first 9 mm),
    it is kept at its whole length, with the diameter of the found part measured alone."""
    from glymph.phantoms import tortuous_vein_image

    truth = tortuous_vein_image(None, 0.0, 1.2, 0.5, snr=1e9)
    pixels = np.argwhere(truth.segmentation)
    axis = np.linalg.svd(pixels - pixels.mean(axis=0), full_matrices=False)[2][0]
    ij = np.stack(np.meshgrid(*(np.arange(n) for n in truth.image.shape), indexing="ij"), -1)
    position = (ij - pixels.mean(axis=0)) @ axis * 0.5  # mm along the vein from its middle
    faint = position * np.sign(axis.sum()) > -6.0
    noise = 0.02
    image = 1 - (1 - truth.image) * np.where(faint, 1 / 40, 1) + np.random.default_rng(0).normal(0, noise, faint.shape)
    found = truth.segmentation & ~faint

    def measured(segmentation: np.ndarray, **kwargs) -> list:
        return measure_veins(segmentation, truth.affine, lambda p: p[:, 0], image=image, noise=noise, **kwargs)[1]

    assert measured(truth.segmentation) == []
    (vein,) = measured(truth.segmentation, found=found)
    (alone,) = measured(found)
    assert vein.length_mm == pytest.approx(truth.length_mm, rel=0.05)
    assert alone.length_mm < 0.5 * truth.length_mm
    assert vein.diameter_mm == pytest.approx(alone.diameter_mm, rel=0.05)
    assert vein.diameter_mm == pytest.approx(1.2, rel=0.15)


def test_a_fading_end_is_followed_and_noise_beyond_it_is_not():
    """Drawn by hand on 0.5 mm pixels with noise of sd 0.03: a dark tube 3 pixels wide on rows 79-81,
    0.3 deep over columns 20-59 (the piece found) and 0.1 deep over columns 60-75 (a fading end of
    8 mm: 3.3 sd of the noise, about 10 sd once smoothed by the 1-pixel Gaussian the walk reads, and
    over ``EXTEND_DEPTH`` of the piece's own darkness), then brain. On ten noise draws the walk from
    the right end follows the faint stretch to its end, less the 1.5 pixels of its own halo that a
    walk drops (columns 71-78), on the tube's rows in at least eight (17 of the first 20 draws, ends
    at 73-74; at 0.08 deep, 11 of 20); the left end, with only noise beyond it, moves at most two
    pixels in every draw, and so does the right end without the faint stretch. With a second piece
    beyond the faint stretch (columns 76-119), the walk joins the two in at least eight draws (20 of
    20)."""
    from skimage.measure import label

    from glymph.vein.segmentation import VeinInputs, extend_faint_ends

    shape = (160, 160)
    brain = np.zeros(shape, bool)
    brain[5:155, 5:155] = True
    found = np.zeros(shape, bool)
    found[79:82, 20:60] = True
    two = found.copy()
    two[79:82, 76:120] = True
    followed = joined = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        for faint in (0.1, 0.0):
            image = np.ones(shape)
            image[79:82, 20:60] -= 0.3
            image[79:82, 60:76] -= faint
            image += rng.normal(0, 0.03, shape)
            rows, columns = np.nonzero(extend_faint_ends(found, VeinInputs(image, brain, 0.5)) & ~found)
            assert np.all(np.abs(rows - 80) <= 2) and np.all((columns >= 18) & (columns <= 78))
            right = columns[columns >= 60]
            if faint:
                followed += right.size > 0 and 71 <= right.max() <= 78
                image[79:82, 76:120] -= 0.3
                joined += label(extend_faint_ends(two, VeinInputs(image, brain, 0.5)), connectivity=2).max() == 1
            else:
                assert right.size == 0 or right.max() <= 61
    assert followed >= 8 and joined >= 8


def test_noise_estimate_is_the_standard_deviation_of_white_noise_beside_structures():
    """noise_sd against the known sd of Gaussian noise added to an image with dark tubes and a
    brightness step (structures must not inflate it), within 5 %."""
    from glymph.vein.morphometry import noise_sd

    rng = np.random.default_rng(5)
    image = np.ones((400, 400))
    image[:, 200:] = 1.3
    for row in range(20, 400, 40):
        image[row : row + 3, :] = 0.6
    inside = np.zeros(image.shape, bool)
    inside[10:390, 10:390] = True
    for sd in (0.02, 0.1):
        assert noise_sd(image + rng.normal(0, sd, image.shape), inside) == pytest.approx(sd, rel=0.05)


def test_blobs_and_ridges_in_noise_are_not_veins():
    """Drawn by hand on 0.5 mm pixels with noise of sd 0.05: a dark 2 mm tube 20 mm long (dip 0.4,
    8 sd) is a vein; a dark 12 x 4 mm ellipse (a blob, about 2 diameters long) is not; a 2 mm tube of the
    same length whose dip is 0.06 (1.2 sd: what noise lines up) is not, and is one at sd 0.02."""
    from glymph.vein.morphometry import MIN_CONTRAST_TO_NOISE, noise_sd

    rng = np.random.default_rng(2)
    shape, spacing = (160, 160), 0.5
    affine = np.array([[spacing, 0, -40], [0, spacing, -40], [0, 0, 1.0]])
    segmentation = np.zeros(shape, bool)
    depth = np.zeros(shape)
    segmentation[30:34, 20:60] = True  # the clear tube
    depth[30:34, 20:60] = 0.4
    rr, cc = ellipse(100, 40, 4, 12, shape=shape)  # the blob
    segmentation[rr, cc], depth[rr, cc] = True, 0.4
    segmentation[60:64, 90:130] = True  # the faint tube
    depth[60:64, 90:130] = 0.06
    brain = np.ones(shape, bool)
    for sd, faint_kept in ((0.05, False), (0.02, True)):
        image = 1.0 - depth + rng.normal(0, sd, shape)
        noise = noise_sd(image, brain)
        assert 0.06 / noise < MIN_CONTRAST_TO_NOISE if not faint_kept else 0.06 / noise > MIN_CONTRAST_TO_NOISE
        labels, veins = measure_veins(segmentation, affine, lambda p: p[:, 0], image=image, noise=noise)
        kept = {(round(v.centroid[0]), round(v.centroid[1])) for v in veins}
        assert (round(31.5 * spacing - 40), round(39.5 * spacing - 40)) in kept  # the clear tube
        assert not labels[100, 40]  # the blob
        assert bool(labels[61, 110]) == faint_kept
        assert len(veins) == 1 + faint_kept


@pytest.mark.parametrize(
    "wavelength, amplitude, diameter, pixel, snr",
    [(6.0, 1.4, 1.2, 1.0, 40.0), (6.0, 1.4, 0.8, 1.0, 40.0), (6.0, 1.4, 1.2, 0.8, 40.0), (5.0, 1.2, 1.0, 0.5, 20.0)],
)
def test_bends_tighter_than_the_vein_keep_their_tortuosity(wavelength, amplitude, diameter, pixel, snr):
    """Sinusoids whose apexes bend more tightly than the vein's own radius (radius of curvature
    0.5-0.65 mm): the middle of the intensity dip cuts each bend short (tortuosity 0.05-0.11 low,
    measured), the tube model's axis keeps it (0.006-0.025 low measured; 0.035 asked)."""
    from glymph.phantoms import tortuous_vein_image
    from glymph.vein import morphometry

    truth = tortuous_vein_image(wavelength, amplitude, diameter, pixel, snr)
    measured = {}
    for tube_axis in (True, False):
        original = morphometry.refine
        morphometry.refine = lambda image, path, width, noise, flag=tube_axis, refine=original, **_: refine(
            image, path, width, noise, tube_axis=flag
        )
        try:
            _, veins = measure_veins(
                truth.segmentation, truth.affine, lambda p: p[:, 0], image=truth.image, noise=0.5 / snr
            )
        finally:
            morphometry.refine = original
        measured[tube_axis] = max(veins, key=lambda v: v.length_mm).tortuosity
    assert measured[True] == pytest.approx(truth.tortuosity, abs=0.035)
    assert truth.tortuosity - measured[False] > 0.04


def test_vein_thresholds_follow_the_noise():
    """On pure noise the hysteresis thresholds rise with the noise sd (floors 0.02 / 0.05 at sd 0.02;
    1.5 x the vesselness noise reaches, 0.16, at sd 0.085), so noise alone makes (almost) no vein
    pixels: 0.01 % of a 200 x 200 noise image, where the former fixed thresholds made 0.34 %."""
    from glymph.vein import segmentation

    rng = np.random.default_rng(5)
    quiet = segmentation.VeinInputs(1 + 0.02 * rng.standard_normal((200, 200)), np.ones((200, 200), bool), 0.8)
    noisy = segmentation.VeinInputs(1 + 0.085 * rng.standard_normal((200, 200)), np.ones((200, 200), bool), 0.8)
    assert segmentation.hysteresis_thresholds(quiet) == (segmentation.LOW, segmentation.HIGH)
    low, high = segmentation.hysteresis_thresholds(noisy)
    assert 0.13 < high < 0.2 and low == pytest.approx(high * segmentation.NOISE_LOW / segmentation.NOISE_HIGH)
    assert segmentation.segment_classical(noisy).mean() < 0.0005

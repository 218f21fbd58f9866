"""The learned vein method: its synthetic training MinIPs, the one-minute training command, the
network on the MinIP's own pixels, `glymph vein --method learned`, and fine-tuning on Labelme
annotations (`glymph train vein --labelme`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module
from references import write_labelme

from glymph.cli import main
from glymph.image_io import write_nifti
from glymph.models.vein_network import NETWORK_PIXEL_MM, network_input, network_shape
from glymph.phantoms.minip_synth import synthetic_minip
from glymph.volume import Volume


def test_synthetic_minips_are_reproducible_and_veins_are_dark():
    """Same seed, same image; veins darker than the brain median; the brain median is 1 and the
    outside 1; pixel sizes vary; labels lie in the brain."""
    first, again = synthetic_minip(970_001), synthetic_minip(970_001)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.label, again.label)
    pixels = []
    for seed in range(970_001, 970_007):
        s = synthetic_minip(seed)
        pixels.append(s.pixel_mm)
        assert s.label.shape == network_shape(s.image.shape, s.pixel_mm)
        assert np.median(s.image[s.brain]) == pytest.approx(1.0, rel=1e-3)
        assert (s.image[~s.brain] == 1).all() and not (s.truth & ~s.brain).any()
        assert s.truth.sum() > 50 and np.median(s.image[s.truth]) < 0.85
    assert max(pixels) - min(pixels) > 0.2


def test_the_fine_label_grid_is_the_grid_the_network_reads():
    """The label drawn on the network's grid, brought back to the image's pixels by area, is the
    image's own truth, better than the same label moved by one fine pixel either way (a half-pixel
    slip between the two grid conventions would fail), and the network's input on that grid is the
    image resized."""
    from skimage.transform import resize

    def dice(label: np.ndarray, truth: np.ndarray) -> float:
        back = resize(label.astype(np.float32), truth.shape, order=1, anti_aliasing=True) >= 0.5
        return 2 * (back & truth).sum() / (back.sum() + truth.sum())

    for seed in (970_011, 970_012, 970_013):
        s = synthetic_minip(seed, NETWORK_PIXEL_MM)
        aligned = dice(s.label, s.truth)
        assert aligned > 0.85, (seed, s.pixel_mm, aligned)
        for axis in (0, 1):
            for shift in (-1, 1):
                assert aligned > dice(np.roll(s.label, shift, axis), s.truth), (seed, axis, shift)
        image = network_input(s.image, s.brain, s.pixel_mm)
        assert image.shape == s.label.shape
        assert np.median(image[s.label]) < -0.1  # veins: darker than the median on the network's grid too


@pytest.fixture(scope="module")
def quick_vein_model(tmp_path_factory) -> Path:
    """The one-minute version of ``glymph train vein``."""
    require_module("segmentation_models_pytorch")
    out = tmp_path_factory.mktemp("vein-model") / "model"
    argv = ["-q", "train", "vein", "--out", str(out), "--minips", "4", "--validation-minips", "2"]
    assert main([*argv, "--steps", "4", "--workers", "1"]) == 0
    return out


def test_training_command_makes_a_checked_model_folder(quick_vein_model, capsys):
    from glymph.outputs import sha256

    manifest = json.loads((quick_vein_model / "model.json").read_text())
    assert manifest["model"] == "vein-deeplab"
    for name in ("vein_deeplab.onnx", "vein_deeplab.pt"):
        assert manifest["files"][name] == sha256(quick_vein_model / name)
    size = sum((quick_vein_model / name).stat().st_size for name in ("vein_deeplab.onnx", "vein_deeplab.pt"))
    assert size < 20e6
    assert set(manifest["validation"]["pixel_dice"]) == {"learned", "classical"}
    assert manifest["validation"]["pixel_dice"]["classical"] > 0.3  # the classical method finds synthetic veins
    assert "glymph train vein" in manifest["training"]["command"]
    assert main(["train", "vein", "--out", str(quick_vein_model)]) == 2  # never overwrites a model
    assert "already holds a model" in capsys.readouterr().err
    assert main(["train", "vein", "--out", str(quick_vein_model / "x"), "--steps", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_onnx_network_agrees_with_pytorch_on_any_size(quick_vein_model):
    """The ONNX file on a MinIP of any size (not a multiple of 16) gives the logits of the PyTorch
    weights it was exported from (the half-precision copy: within its rounding)."""
    from glymph.models.vein_network import VeinNetwork
    from glymph.training.vein import load_state, torch_logits

    s = synthetic_minip(970_021)
    image = network_input(s.image, s.brain, s.pixel_mm)[:203, :317]
    onnx = VeinNetwork.from_folder(quick_vein_model).logits(image)
    torch = torch_logits(load_state(quick_vein_model))(image)
    assert onnx.shape == image.shape
    assert np.abs(onnx - torch).max() < 0.05 * max(np.abs(torch).max(), 1.0)


@pytest.fixture(scope="module")
def learned_run(quick_vein_model, tmp_path_factory):
    from glymph.phantoms import swi_phantom

    folder = tmp_path_factory.mktemp("vein-learned")
    write_nifti(swi_phantom(seed=3).swi, folder / "swi.nii.gz")
    argv = ["-q", "vein", str(folder / "swi.nii.gz"), "--out", str(folder / "out"), "--subject", "s3"]
    assert main([*argv, "--method", "learned", "--model-dir", str(quick_vein_model), "--flips"]) == 0
    return folder


def test_vein_command_runs_the_learned_method_and_records_the_network(learned_run, quick_vein_model):
    sidecar = json.loads((learned_run / "out" / "vein.json").read_text())
    assert sidecar["parameters"]["method"] == "learned"
    network = sidecar["models"]["segmentation"]
    assert network["threshold"] == 0.5
    assert str(quick_vein_model) in json.dumps(network["files"])
    from glymph.vein import read_vein

    assert read_vein(learned_run / "out").network == network


def test_learned_method_without_weights_says_how_to_get_them(learned_run, tmp_path, capsys):
    argv = ["vein", str(learned_run / "swi.nii.gz"), "--out", str(tmp_path / "out"), "--method", "learned"]
    assert main([*argv, "--model-dir", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def annotate(folder: Path, seeds: list[int]) -> tuple[Path, Path]:
    """Synthetic MinIPs saved as glymph vein result folders would hold them (minip.nii.gz and
    minip_brain.nii.gz, one slice) with Labelme files outlining each of their veins, as an
    annotator would draw them on minip.png."""
    from skimage.measure import find_contours, label

    images, labelme = folder / "images", folder / "labelme"
    labelme.mkdir(parents=True)
    for seed in seeds:
        s = synthetic_minip(seed)
        affine = np.diag([s.pixel_mm, s.pixel_mm, 2.0, 1.0])
        minip = Volume((s.image * 700)[:, :, None].astype(np.float32), affine)
        (images / f"sub-{seed}").mkdir(parents=True)
        write_nifti(minip, images / f"sub-{seed}" / "minip.nii.gz")
        write_nifti(
            minip.with_data(s.brain[:, :, None].astype(np.uint8)), images / f"sub-{seed}" / "minip_brain.nii.gz"
        )
        components = label(s.truth)
        outlines = [
            max(find_contours(np.pad(components == k, 1).astype(float), 0.5), key=len) - 1
            for k in range(1, components.max() + 1)
        ]
        write_labelme(labelme / f"sub-{seed}.json", [o for o in outlines if len(o) >= 3], minip)
    return labelme, images


def test_fine_tuning_on_labelme_annotations(quick_vein_model, tmp_path, capsys):
    """`glymph train vein --labelme --images --init FOLDER`: a split into training and validation
    subjects, the validation Dice before and after, a model folder usable with --model-dir."""
    labelme, images = annotate(tmp_path, [970_031, 970_032, 970_033])
    out = tmp_path / "tuned"
    argv = ["train", "vein", "--labelme", str(labelme), "--images", str(images), "--init", str(quick_vein_model)]
    assert main([*argv, "--out", str(out), "--steps", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["validation_subjects"]) == 1 and len(printed["training_subjects"]) == 2
    assert set(printed["pixel_dice"]) == {"before", "after", "classical"}
    assert printed["pixel_dice"]["classical"] > 0.3  # the polygons lie on the veins the classical method finds
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["training"]["init"] == str(quick_vein_model) and "--labelme" in manifest["training"]["command"]
    from glymph.models.vein_network import VeinNetwork

    assert VeinNetwork.from_folder(out).logits(np.zeros((40, 50), np.float32)).shape == (40, 50)


def test_fine_tuning_refuses_bad_inputs(quick_vein_model, tmp_path, capsys):
    labelme, images = annotate(tmp_path, [970_041, 970_042])
    init = ["--init", str(quick_vein_model)]

    def refused(argv: list[str], message: str) -> None:
        assert main(["train", "vein", *argv, "--out", str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()

    refused(["--labelme", str(labelme), *init], "--labelme needs --images")
    refused(["--images", str(images)], "--images goes with --labelme")
    refused(["--labelme", str(tmp_path / "none"), "--images", str(images), *init], "is not a folder")
    (labelme / "sub-0.json").write_text("{}")
    refused(["--labelme", str(labelme), "--images", str(images), *init], "no MinIP for the annotation(s) sub-0")
    (labelme / "sub-0.json").unlink()
    given = ["--labelme", str(labelme), "--images", str(images)]
    refused([*given, "--init", str(tmp_path / "nowhere")], "is neither 'shipped' nor a model folder")
    refused([*given, "--init", str(images)], "holds no vein_deeplab.pt")
    refused([*given, *init, "--validation-fraction", "1"], "--validation-fraction must be between 0 and 1")
    (labelme / "sub-970041.json").unlink()
    refused([*given, *init], "needs at least 2 annotated subjects")

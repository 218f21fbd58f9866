"""The model registry and loader: every registered file found and checked, in the documented
order, and a missing or damaged file is one clear error before any work."""

from __future__ import annotations

import dataclasses
import shutil

import nibabel as nib
import numpy as np
import pytest
from conftest import require_module

from glymph.cli import main
from glymph.errors import GlymphError
from glymph.models.loader import locate, model_files, torch_device
from glymph.models.registry import MODELS, WeightFile, get_model


def test_every_registered_model_is_fully_described():
    for model in MODELS.values():
        assert model.card.is_file(), model.id
        if model.shipped:
            assert all(len(file.sha256) == 64 and int(file.sha256, 16) >= 0 for file in model.files)
        else:  # not distributed yet: the card says how to make it, and the registry how to train it
            assert model.training.startswith("glymph train ") and "not shipped" in model.card.read_text()
        assert model.version and model.task and model.framework and model.outputs and model.licence and model.training
        assert {"modality", "orientation", "spacing", "intensities", "size"} <= set(model.inputs)
        assert model.version in model.card.read_text() and all(f.name in model.card.read_text() for f in model.files)


def test_the_installed_weights_are_the_registered_ones(capsys):
    require_module("deepbet")
    assert main(["models", "verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shipped = [model for model in MODELS.values() if model.shipped]
    assert len(lines) == sum(len(model.files) for model in shipped) + len(MODELS) - len(shipped)
    assert all(
        line.startswith("ok  ") or "not shipped with glymph; make it with `glymph train " in line for line in lines
    )
    assert main(["models", "list"]) == 0 and "deepbet 1.0.2: brain extraction" in capsys.readouterr().out
    assert main(["models", "info", "deepbet"]) == 0
    info = capsys.readouterr().out
    assert "sha256 de8ee7c69654d0dd" in info and "card: " in info and "inputs.intensities: " in info
    assert main(["models", "info", "nope"]) == 2 and "unknown model 'nope'" in capsys.readouterr().err


@pytest.fixture
def copies(tmp_path):
    """The deepbet files copied into a folder, as a user would put them."""
    require_module("deepbet")
    folder = tmp_path / "weights"
    folder.mkdir()
    for name, path in model_files("deepbet").items():
        shutil.copy(path, folder / name)
    return folder


def test_weights_are_looked_for_in_the_documented_order(copies, tmp_path, monkeypatch):
    """--model-dir, then $GLYMPH_MODEL_DIR/<id>, then the user cache, then the installed package."""
    packaged = model_files("deepbet")["model.pt"]
    env, cache = tmp_path / "env" / "deepbet", tmp_path / "xdg" / "glymph" / "models" / "deepbet"
    for folder in (env, cache):
        shutil.copytree(copies, folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GLYMPH_MODEL_DIR", str(tmp_path / "env"))
    assert model_files("deepbet", copies)["model.pt"] == copies / "model.pt"
    assert model_files("deepbet", tmp_path / "env")["model.pt"] == env / "model.pt"  # DIR/<id>/ works too
    assert model_files("deepbet")["model.pt"] == env / "model.pt"
    monkeypatch.delenv("GLYMPH_MODEL_DIR")
    assert model_files("deepbet")["model.pt"] == cache / "model.pt"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    assert model_files("deepbet")["model.pt"] == packaged


def test_a_damaged_weight_file_is_one_clear_error_before_any_work(copies, tmp_path, capsys):
    with open(copies / "model.pt", "r+b") as f:  # one byte changed, as a bad download would
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    t1 = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((32, 32, 32)).astype(np.float32), np.eye(4)), t1)
    out = tmp_path / "out"
    assert main(["epvs", str(t1), "--model-dir", str(copies), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("glymph: error: model file ") and str(copies / "model.pt") in error
    assert "damaged or another version" in error and "reinstall deepbet 1.0.2" in error
    assert not out.exists()
    assert main(["models", "verify", "--model-dir", str(copies)]) == 2
    captured = capsys.readouterr()
    assert "ok  deepbet bbox_model.pt" in captured.out and "BAD deepbet model.pt" in captured.out
    assert "1 model file(s) missing or damaged: deepbet model.pt" in captured.err


def test_a_missing_model_says_which_file_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GLYMPH_MODEL_DIR", raising=False)
    absent = dataclasses.replace(
        get_model("deepbet"), id="absent-net", package="no-such-package", files=(WeightFile("w.pt", "0" * 64, "w.pt"),)
    )
    with pytest.raises(GlymphError, match=r"model file w.pt of absent-net 1.0.2 is not installed") as error:
        locate(absent, absent.files[0])
    assert "pip install no-such-package==1.0.2" in str(error.value)
    assert str(tmp_path / "glymph" / "models" / "absent-net") in str(error.value)
    with pytest.raises(GlymphError, match="is not a folder"):
        locate(absent, absent.files[0], tmp_path / "weights.pt")


def test_devices():
    torch = require_module("torch")
    assert torch_device("cpu").type == "cpu"
    assert torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(GlymphError, match="no CUDA GPU"):
            torch_device("cuda")
    with pytest.raises(GlymphError, match="unknown device"):
        torch_device("tpu")


def windows_along(size: int, window: int, overlap: float) -> int:
    """How many windows cover ``size`` voxels, counted by hand: starts every
    ``window * (1 - overlap)`` voxels, the last one moved back to end at the image's edge."""
    step = int(window * (1 - overlap))
    return 1 if size <= window else -(-(size - window) // step) + 1


def test_sliding_window_covers_the_image_in_batches_and_blends_to_the_whole_image_output():
    """A voxel-wise network gives the same output window by window as on the whole image, whatever
    the blending; the windows go to the network in batches of the asked size."""
    torch = require_module("torch")
    from glymph.models.inference import SlidingWindow, sliding_window, torch_predictor

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv3d(2, 8, 1), torch.nn.Tanh(), torch.nn.Conv3d(8, 3, 1))
    image = np.random.default_rng(0).normal(size=(2, 37, 41, 29)).astype(np.float32)
    whole = network(torch.from_numpy(image[None])).detach().numpy()[0]
    predict, calls = torch_predictor(network), []

    def counting(batch):
        calls.append(len(batch))
        return predict(batch)

    for blend in ("gaussian", "constant"):
        calls.clear()
        out = sliding_window(counting, image, SlidingWindow((16, 16, 16), 0.5, batch_size=4, blend=blend))
        assert out.shape == (3, 37, 41, 29)
        np.testing.assert_allclose(out, whole, atol=1e-5)
        expected = np.prod([windows_along(n, 16, 0.5) for n in (37, 41, 29)])  # 4 x 5 x 3
        assert sum(calls) == expected == 60 and max(calls) == 4 and len(calls) == 15
    small = image[:, :10, :12, :8]  # smaller than a window: padded, cropped back
    out = sliding_window(predict, small, SlidingWindow((16, 16, 16)))
    np.testing.assert_allclose(out, network(torch.from_numpy(small[None])).detach().numpy()[0], atol=1e-5)


def test_sliding_window_blends_overlapping_windows_by_their_gaussian_weights():
    """A network that answers each window with its own number: where two windows overlap, the
    blend is the Gaussian-weighted mean of their numbers, computed here from the weights' formula."""
    from glymph.models.inference import SlidingWindow, sliding_window

    require_module("monai")
    numbers = iter(range(1, 100))

    def numbered(batch):
        return np.stack([np.full(batch.shape[2:], next(numbers), np.float32) for _ in batch])[:, None]

    image = np.zeros((1, 24, 16, 16), np.float32)  # two windows along x: [0, 16) and [8, 24)
    out = sliding_window(numbered, image, SlidingWindow((16, 16, 16), 0.5, batch_size=1, sigma_scale=0.125))
    centre, sd = (16 - 1) / 2, 0.125 * 16
    weight = np.exp(-0.5 * ((np.arange(16) - centre) / sd) ** 2)  # along x; the other axes cancel
    x = np.arange(8, 16)
    first, second = weight[x], weight[x - 8]
    # rtol: MONAI's Gaussian kernel differs from the sampled formula by 2e-4 at a window's last voxel
    np.testing.assert_allclose(out[0, 8:16, 8, 8], (1 * first + 2 * second) / (first + second), rtol=1e-3)
    assert (out[0, :8] == 1).all() and (out[0, 16:] == 2).all()


def test_sliding_window_refuses_what_it_cannot_run():
    from glymph.models.inference import SlidingWindow, sliding_window

    for bad, match in (
        ({"roi_size": (16, 16)}, "3 positive sizes"),
        ({"roi_size": (16, 16, 16), "overlap": 1.0}, "overlap"),
        ({"roi_size": (16, 16, 16), "blend": "max"}, "unknown blending"),
    ):
        with pytest.raises(GlymphError, match=match):
            SlidingWindow(**bad)
    with pytest.raises(GlymphError, match="channels, x, y, z"):
        sliding_window(lambda b: b, np.zeros((8, 8, 8), np.float32), SlidingWindow((4, 4, 4)))


def test_onnx_and_torch_predictors_agree_and_2d_batches_keep_the_order(tmp_path):
    torch = require_module("torch")
    require_module("onnx")
    from glymph.models.inference import in_batches, onnx_predictor, torch_predictor
    from glymph.models.runtime import onnx_session

    torch.manual_seed(1)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    torch.onnx.export(
        network,
        (torch.zeros(1, 3, 32, 32),),
        str(tmp_path / "net.onnx"),
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    slices = np.random.default_rng(1).uniform(size=(11, 3, 32, 32)).astype(np.float32)
    by_torch = in_batches(torch_predictor(network), slices, batch_size=4)
    by_onnx = in_batches(onnx_predictor(onnx_session(tmp_path / "net.onnx", "cpu", 1)), slices, batch_size=4)
    assert by_torch.shape == (11, 2, 32, 32)
    np.testing.assert_allclose(by_onnx, by_torch, atol=1e-5)
    np.testing.assert_allclose(by_torch[7], torch_predictor(network)(slices[7:8])[0], atol=1e-6)

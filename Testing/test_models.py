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
        assert all(len(file.sha256) == 64 and int(file.sha256, 16) >= 0 for file in model.files)
        assert model.version and model.task and model.framework and model.outputs and model.licence and model.training
        assert {"modality", "orientation", "spacing", "intensities", "size"} <= set(model.inputs)
        assert model.version in model.card.read_text() and all(f.name in model.card.read_text() for f in model.files)


def test_the_installed_weights_are_the_registered_ones(capsys):
    require_module("deepbet")
    assert main(["models", "verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == sum(len(model.files) for model in MODELS.values())
    assert all(line.startswith("ok  ") for line in lines)
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

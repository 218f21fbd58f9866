"""Finding, checking and loading the weights of the registered networks, on the CPU or a GPU.

Weights are never downloaded at run time. Each file of a model (``glymph.models.registry``) is
looked for, in order, in:

1. the folder the user gives (``--model-dir DIR``: ``DIR/<file>`` or ``DIR/<model id>/<file>``);
2. ``$GLYMPH_MODEL_DIR/<model id>/``;
3. the user cache, ``$XDG_CACHE_HOME/glymph/models/<model id>/`` (``~/.cache/...`` by default);
4. the Python package that ships it: glymph itself (``glymph/models/weights/<model id>/``) for
   glymph's own networks, or another distribution (e.g. ``deepbet``).

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

SHIPPED = Path(__file__).parent / "weights"  # glymph's own networks, inside the package


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
    if not model.shipped:
        raise GlymphError(
            f"{model.id} {model.version} is not shipped with this version of glymph; make it with "
            f"`{model.training}` and give that folder with --model-dir (or copy it to {user_cache() / model.id})"
        )
    if model.package is None and (SHIPPED / model.id / file.name).is_file():
        return SHIPPED / model.id / file.name
    if model.package and file.packaged:
        try:
            for record in metadata.files(model.package) or []:
                if str(record) == file.packaged:
                    return Path(record.locate())
        except metadata.PackageNotFoundError:
            pass
    get = (
        f"`pip install {model.package}=={model.version}`, or "
        if model.package
        else f"`{model.training}`, or reinstall glymph, or "
    )
    raise GlymphError(
        f"model file {file.name} of {model.id} {model.version} is not installed; get it with {get}put it in "
        f"{user_cache() / model.id} (or a folder given with --model-dir)"
    )


def verify(model: ModelInfo, file: WeightFile, path: Path) -> None:
    """Raise GlymphError unless ``path`` has the SHA-256 the registry expects for ``file``."""
    if file.sha256 is None:
        raise GlymphError(
            f"model file {path} cannot be checked: {model.id} {model.version} is not shipped, so glymph knows no "
            f"checksum for it; give the whole folder `{model.training}` wrote (with its model.json)"
        )
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


def trained_folder(model: ModelInfo, model_dir: str | os.PathLike | None = None) -> Path | None:
    """The first searched folder holding a model of ``model``'s id trained by ``glymph train``
    (its ``model.json`` names the model and every file's SHA-256), if any."""
    import json

    for folder in search_folders(model, model_dir):
        manifest = folder / "model.json"
        if manifest.is_file():
            try:
                if json.loads(manifest.read_text()).get("model") == model.id:
                    return folder
            except (ValueError, AttributeError):
                raise GlymphError(f"{manifest} is not a glymph model manifest (unreadable JSON)") from None
    return None


def trained_files(model: ModelInfo, folder: Path) -> dict[str, Path]:
    """The files of a trained model folder, each checked against the SHA-256 in its ``model.json``."""
    import json

    declared = json.loads((folder / "model.json").read_text()).get("files", {})
    paths = {}
    for file in model.files:
        path = folder / file.name
        if file.name not in declared or not path.is_file():
            raise GlymphError(f"model folder {folder} lacks {file.name}; train it again with `{model.training}`")
        found = _checksum(path, path.stat().st_size, path.stat().st_mtime_ns)
        if found != declared[file.name]:
            raise GlymphError(
                f"model file {path} is damaged (SHA-256 {found[:12]}..., its model.json expects "
                f"{declared[file.name][:12]}...); train it again or copy it anew"
            )
        paths[file.name] = path
    return paths


def model_files(model_id: str, model_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Every weight file of a registered model, located and checked: ``{file name: path}``.

    A searched folder with a ``model.json`` for this model (the output of ``glymph train``) is
    used whole, its files checked against that manifest; otherwise each file is located in turn
    and checked against the registry."""
    model = get_model(model_id)
    folder = trained_folder(model, model_dir)
    if folder is not None:
        return trained_files(model, folder)
    paths = {}
    for file in model.files:
        paths[file.name] = locate(model, file, model_dir)
        verify(model, file, paths[file.name])
    return paths


def provenance(model_id: str, paths: dict[str, Path]) -> dict:
    """What a result sidecar records of a model it used: id, version, and each file's path and SHA-256."""
    model = get_model(model_id)
    checksums = {file.name: file.sha256 for file in model.files}
    folder = next(iter(paths.values())).parent if paths else None
    if folder is not None and folder != SHIPPED / model.id and (folder / "model.json").is_file():
        import json

        checksums = json.loads((folder / "model.json").read_text())["files"]
        return {
            "name": model.id,
            "version": f"trained: {folder / 'model.json'}",
            "files": {name: {"path": str(path), "sha256": checksums[name]} for name, path in paths.items()},
        }
    return {
        "name": model.id,
        "version": model.version,
        "files": {name: {"path": str(path), "sha256": checksums[name]} for name, path in paths.items()},
    }


def limit_threads(threads: int | None) -> None:
    """Cap the CPU threads PyTorch networks use in this process (``--threads``; None: one per core).
    ONNX Runtime sessions take theirs when opened (``glymph.models.runtime.onnx_session``)."""
    if threads is not None and threads < 1:
        raise GlymphError("--threads must be at least 1")
    if threads is not None:
        _torch().set_num_threads(threads)


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
            warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.14's category for it
            model = torch.jit.load(str(path), map_location=torch.device(device))
    except Exception as exc:
        raise GlymphError(f"cannot load model {path}: {exc}") from None
    model.eval()
    return model

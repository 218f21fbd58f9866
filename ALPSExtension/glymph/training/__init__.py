"""Training glymph's own networks (``glymph train ...``), on top of the domain packages and the
phantoms that make their training data. Nothing imports this package but the command line."""

from __future__ import annotations

import json
from pathlib import Path


def write_manifest(
    out: Path, model_id: str, files: tuple[str, ...], training: dict, validation: dict, **described
) -> None:
    """``out/model.json``: which model the folder holds, its ``files``' SHA-256, how it was trained
    (``training``: the plan and its command), its validation metrics, and anything ``described``
    about the network (architecture, grids)."""
    from glymph import __version__
    from glymph.outputs import sha256

    manifest = {
        "model": model_id,
        "glymph": __version__,
        "files": {name: sha256(out / name) for name in files},
        "training": training,
        **described,
        "validation": validation,
    }
    (out / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")

"""The MNI152 template shipped inside the package (see ``data/mni152/README.md``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from glymph.volume import Volume

TEMPLATE_DIR = Path(__file__).parent / "data" / "mni152"
TEMPLATE_NAME = "MNI152 ICBM 2009a nonlinear symmetric, 2 mm"


@dataclass(frozen=True)
class Template:
    """MNI152 maps on one 2 mm grid: T1 (0-1), GM and WM probabilities (0-1), brain mask (bool)."""

    t1: Volume
    gm: Volume
    wm: Volume
    brain_mask: Volume
    checksum: str  # sha256 over the four files, for provenance


@lru_cache(maxsize=1)
def mni152() -> Template:
    """Load the shipped MNI152 template (cached)."""
    from glymph.image_io import nifti_from_gzip

    digest = hashlib.sha256()
    maps = {}
    for name in ("t1", "gm", "wm", "brain_mask"):
        path = TEMPLATE_DIR / f"{name}.nii.gz"
        compressed = path.read_bytes()
        digest.update(compressed)
        img = nifti_from_gzip(compressed)
        maps[name] = Volume(np.asarray(img.dataobj, dtype=np.float32) / 255.0, np.asarray(img.affine, dtype=np.float64))
    mask = maps["brain_mask"]
    return Template(maps["t1"], maps["gm"], maps["wm"], Volume(mask.data > 0.5, mask.affine), digest.hexdigest())


def template_provenance() -> dict:
    """The template's name and checksum, as recorded in result sidecars."""
    return {"name": TEMPLATE_NAME, "sha256": mni152().checksum}

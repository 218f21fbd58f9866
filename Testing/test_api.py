"""The public Python API: every advertised name resolves, and importing glymph stays light."""

from __future__ import annotations

import subprocess
import sys

import glymph


def test_every_public_name_resolves():
    for name in glymph.__all__:
        assert getattr(glymph, name) is not None, name


def test_import_glymph_does_not_load_heavy_packages():
    code = "import sys, glymph; print(sorted(m for m in ('numpy', 'scipy', 'torch', 'skimage', 'SimpleITK') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )

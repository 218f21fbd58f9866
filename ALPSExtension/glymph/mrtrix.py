"""MRtrix3's tensor fit as a reference for glymph's (used by the tests and benchmarks).

Needs MRtrix3's ``dwi2tensor`` on the PATH (Debian and Ubuntu: ``apt-get install mrtrix3``).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from glymph.tensor import FSL_ORDER, MRTRIX_ORDER, reorder


def dwi2tensor(image: str | Path, bval: str | Path, bvec: str | Path, iterations: int = 5) -> np.ndarray:
    """``dwi2tensor -iter N`` on a NIfTI DWI with FSL ``bval``/``bvec`` files.

    Returns the tensor (X, Y, Z, 6) in mm^2/s, components in glymph's FSL order (xx, xy, xz, yy,
    yz, zz), in MRtrix's scanner (RAS world) frame. NaN b-vectors (some b0 volumes) are given to
    MRtrix as zeros.
    """
    import nibabel as nib

    vectors = np.nan_to_num(np.loadtxt(bvec))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savetxt(folder / "b.bvec", vectors if vectors.shape[0] == 3 else vectors.T)
        np.savetxt(folder / "b.bval", np.atleast_2d(np.loadtxt(bval)))
        grad = ["-fslgrad", folder / "b.bvec", folder / "b.bval"]
        subprocess.run(["dwi2tensor", "-quiet", "-iter", str(iterations), *grad, image, folder / "dt.nii"], check=True)
        return reorder(nib.load(folder / "dt.nii").get_fdata(), MRTRIX_ORDER, FSL_ORDER)

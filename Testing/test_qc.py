"""Every QC picture is shown as radiologists read axial images: what lies on the subject's right
(RAS x > 0) appears on the left of the picture."""

from __future__ import annotations

import dataclasses

import numpy as np


def brightness(path, columns: tuple[float, float], rows: tuple[float, float] = (0.1, 0.75)) -> float:
    """Mean brightness of a band of the picture (fractions of its width and height, from the top left)."""
    import matplotlib.pyplot as plt

    image = plt.imread(path)[..., :3].mean(axis=-1)
    height, width = image.shape
    band = image[int(rows[0] * height) : int(rows[1] * height), int(columns[0] * width) : int(columns[1] * width)]
    return float(band.mean())


def only_the_right(volume, data: np.ndarray) -> np.ndarray:
    """``data`` (on ``volume``'s grid) where RAS x > 0, zero on the subject's left."""
    right = volume.voxel_centres()[..., 0] > 0
    return np.where(right.reshape(right.shape + (1,) * (data.ndim - 3)), data, 0).astype(data.dtype)


def test_alps_picture(clean_result, tmp_path):
    from glymph.alps.qc import alps_qc_figure
    from glymph.dti import DTIResult

    result = clean_result
    dti = result.dti
    tensors = dti.tensor.with_data(only_the_right(dti.tensor, dti.fit.tensor))
    right_only = dataclasses.replace(result, dti=DTIResult.from_tensor(tensors, dti.mask))
    alps_qc_figure(right_only, tmp_path / "qc.png")
    # the whole-slice panel spans the left third of the picture
    assert brightness(tmp_path / "qc.png", (0.03, 0.16)) > 3 * brightness(tmp_path / "qc.png", (0.19, 0.32))


def test_epvs_picture(colin_result, tmp_path):
    from glymph.epvs.qc import epvs_qc_figure

    t1 = colin_result.grid_t1
    right_only = dataclasses.replace(colin_result, grid_t1=t1.with_data(only_the_right(t1, t1.data)))
    epvs_qc_figure(right_only, tmp_path / "qc.png")
    for left, right in (((0.03, 0.23), (0.27, 0.47)), ((0.53, 0.73), (0.77, 0.97))):  # the two panels
        assert brightness(tmp_path / "qc.png", left) > 3 * brightness(tmp_path / "qc.png", right)


def test_vein_picture(vein_result, tmp_path):
    from glymph.vein.qc import vein_qc_figure

    minip = vein_result.minip
    right_only = dataclasses.replace(vein_result, minip=minip.with_data(only_the_right(minip, minip.data)))
    vein_qc_figure(right_only, tmp_path / "qc.png")
    assert brightness(tmp_path / "qc.png", (0.1, 0.4)) > 3 * brightness(tmp_path / "qc.png", (0.6, 0.9))

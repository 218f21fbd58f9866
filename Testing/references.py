"""Reference implementations the tests and benchmarks compare glymph against. Not shipped.

* ``dwi2tensor``, ``mrtrix_tensor_maps``: MRtrix3's tensor fit and metrics (Debian ``mrtrix3``);
* ``scikit_image_vesselness``: ``skimage.filters.frangi`` with the EPVS method's scales;
* ``write_labelme``: a Labelme annotation file, to test glymph's reader;
* ``aal_placement``: EPVS phantom regions from the AAL atlas (Debian ``mricron-data``), not from
  glymph's own region map, so that a phantom does not only put lesions where glymph looks;
* ``jhu_fibres``: white-matter fibre directions from the JHU tract atlas (Debian ``mricron-data``)
  for DWI phantoms whose bundles follow the white matter's shape (the gradient-table check).

The benchmarks import this file from ``Testing/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from glymph.dti.tensor import FSL_ORDER, MRTRIX_ORDER, reorder
from glymph.volume import Volume


def dwi2tensor(image: str | Path, bval: str | Path, bvec: str | Path, iterations: int = 5) -> np.ndarray:
    """``dwi2tensor -iter N`` on a NIfTI DWI with FSL ``bval``/``bvec`` files.

    Returns the tensor (X, Y, Z, 6) in mm^2/s, components in glymph's FSL order (xx, xy, xz, yy,
    yz, zz), in MRtrix's scanner (RAS world) frame. NaN b-vectors (some b0 volumes) are given to
    MRtrix as zeros.
    """
    return mrtrix_tensor_maps(image, bval, bvec, iterations, metrics=False)["tensor"]


def mrtrix_tensor_maps(
    image: str | Path, bval: str | Path, bvec: str | Path, iterations: int = 5, metrics: bool = True
) -> dict:
    """MRtrix3's ``dwi2tensor -iter N`` and (``metrics``) ``tensor2metric`` on a NIfTI DWI with FSL
    files: ``tensor`` (X, Y, Z, 6; FSL order, RAS frame, mm^2/s), ``fa``, ``md`` (mm^2/s) and
    ``colour`` (X, Y, Z, 3; |principal eigenvector| in RAS x FA)."""
    import nibabel as nib

    vectors = np.nan_to_num(np.loadtxt(bvec))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savetxt(folder / "b.bvec", vectors if vectors.shape[0] == 3 else vectors.T)
        np.savetxt(folder / "b.bval", np.atleast_2d(np.loadtxt(bval)))
        grad = ["-fslgrad", folder / "b.bvec", folder / "b.bval"]
        subprocess.run(["dwi2tensor", "-quiet", "-iter", str(iterations), *grad, image, folder / "dt.nii"], check=True)

        def load(name: str) -> np.ndarray:
            return np.nan_to_num(nib.load(folder / name).get_fdata())

        maps = {"tensor": reorder(load("dt.nii"), MRTRIX_ORDER, FSL_ORDER)}
        if metrics:
            outputs = ["-fa", folder / "fa.nii", "-adc", folder / "md.nii", "-vector", folder / "v.nii"]
            subprocess.run(["tensor2metric", "-quiet", folder / "dt.nii", *outputs], check=True)
            maps.update(fa=load("fa.nii"), md=load("md.nii"), colour=np.abs(load("v.nii")))
        return maps


def scikit_image_vesselness(image: np.ndarray, dark: bool) -> np.ndarray:
    """``skimage.filters.frangi`` with the scales and parameters of ``glymph.epvs.segmentation.vesselness``
    on a whole 1 mm image (about 50 s per brain)."""
    from skimage.filters import frangi

    from glymph.epvs import segmentation as S

    return frangi(
        image,
        sigmas=S.SIGMAS_MM,
        alpha=S.FRANGI_ALPHA,
        beta=S.FRANGI_BETA,
        gamma=S.FRANGI_GAMMA,
        black_ridges=dark,
        mode="reflect",
    )


def write_labelme(path: str | os.PathLike, polygons: list[np.ndarray], reference: Volume, label: str = "vein") -> None:
    """Write polygons given as MinIP pixel coordinates (N, 2; i, j) as a Labelme file."""
    width, height = reference.shape[0], reference.shape[1]
    shapes = [
        {
            "label": label,
            "points": [[float(width - i - 0.5), float(height - j - 0.5)] for i, j in poly],
            "group_id": None,
            "shape_type": "polygon",
            "flags": {},
        }
        for poly in polygons
    ]
    document = {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": "minip.png",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    Path(path).write_text(json.dumps(document, indent=2))


AAL = Path("/usr/share/mricron/templates/aal.nii.gz")
# the basal ganglia's AAL labels, left and right (aal.nii.txt)
AAL_NUCLEI = {71: "caudate", 72: "caudate", 73: "putamen", 74: "putamen", 75: "pallidum", 76: "pallidum"}
CSO_BOTTOM_MM = 28.0  # centrum semiovale: above the lateral ventricle bodies (MNI z, mm)


@lru_cache(maxsize=1)
def aal_atlas() -> tuple[np.ndarray, np.ndarray]:
    """The AAL labels and their voxel -> MNI mm affine, read once per process."""
    import nibabel as nib

    atlas = nib.load(AAL)
    return np.asarray(atlas.dataobj), atlas.affine


def aal_labels_at(points_mm: np.ndarray) -> np.ndarray:
    """The AAL label (nearest voxel; 0 outside the atlas) at MNI points (..., 3)."""
    from scipy.ndimage import map_coordinates

    labels, affine = aal_atlas()
    to_atlas = np.linalg.inv(affine)
    points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    atlas_voxels = (points @ to_atlas[:3, :3].T + to_atlas[:3, 3]).T
    found = map_coordinates(labels, atlas_voxels, order=0, mode="constant", cval=0)
    return found.reshape(np.shape(points_mm)[:-1])


def aal_nucleus(point_mm) -> str:
    """The basal-ganglia nucleus the AAL atlas has at an MNI point; "other" outside them."""
    return AAL_NUCLEI.get(int(aal_labels_at(np.asarray(point_mm))), "other")


def aal_placement(grid: Volume, template_to_subject) -> Volume:
    """Regions for ``glymph.phantoms.epvs_phantom`` on ``grid``: 1 where the AAL atlas has the
    caudate, putamen or pallidum, 2 above MNI z = 28 mm (the phantom keeps its own white matter
    there), through ``template_to_subject`` (an ``AffineMap``; nearest neighbour)."""
    template_points = template_to_subject.to_template(grid.voxel_centres().reshape(-1, 3))
    labels = aal_labels_at(template_points)
    regions = np.where(np.isin(labels, list(AAL_NUCLEI)), 1, np.where(template_points[:, 2] > CSO_BOTTOM_MM, 2, 0))
    return grid.with_data(regions.reshape(grid.shape).astype(np.uint8))


JHU_2MM = Path("/usr/share/mricron/templates/JHU-WhiteMatter-labels-2mm.nii.gz")
JHU_2MM_X_ROW = [-2.0, 0.0, 0.0, 90.0]  # Debian's header is mirrored (see test_rois.py)
_X, _Y, _Z = np.eye(3)
# The anatomical course of each JHU tract (JHU-WhiteMatter-labels-2mm.nii.txt): commissural L-R,
# projection S-I, association A-P; the anterior limb of the internal capsule and the anterior and
# posterior corona radiata obliquely.
JHU_COURSE = {
    **dict.fromkeys((1, 2, 3, 4, 5), _X),
    **dict.fromkeys((7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 25, 26, 47, 48), _Z),
    **dict.fromkeys((6, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46), _Y),
    **dict.fromkeys((17, 18, 23, 24), _Y + _Z),
    **dict.fromkeys((27, 28), _Z - _Y),
}


def jhu_fibres(scale_mm: float = 4.0):
    """A fibre field for ``glymph.phantoms.alps_phantom(fibres=...)``: in each JHU tract, the
    direction nearest the tract's anatomical course (``JHU_COURSE``) within the plane of the
    tract's two longest local extents (a Gaussian-weighted PCA of the label's shape at
    ``scale_mm``), so that fibres run along the bundle as it bends; zero outside the tracts.
    Nearest-voxel lookup of MNI points (M, 3) on the 2 mm atlas."""
    import nibabel as nib
    from scipy.ndimage import find_objects, gaussian_filter

    atlas = nib.load(JHU_2MM)
    labels = np.asarray(atlas.dataobj).astype(int)
    affine = atlas.affine.copy()
    affine[0] = JHU_2MM_X_ROW
    sigma = scale_mm / 2.0
    field = np.zeros((*labels.shape, 3))
    for label, box in enumerate(find_objects(labels), start=1):
        if box is None or label not in JHU_COURSE:
            continue
        box = tuple(slice(max(b.start - 6, 0), b.stop + 6) for b in box)
        inside = labels[box] == label
        weight = inside.astype(np.float64)
        ijk = np.stack(np.meshgrid(*[np.arange(b.start, b.stop) for b in box], indexing="ij"), -1)
        xyz = ijk @ affine[:3, :3].T
        m0 = gaussian_filter(weight, sigma)[inside]
        mean = np.stack([gaussian_filter(weight * xyz[..., a], sigma)[inside] for a in range(3)], -1) / m0[:, None]
        cov = np.zeros((len(m0), 3, 3))
        for a in range(3):
            for b in range(a, 3):
                second = gaussian_filter(weight * xyz[..., a] * xyz[..., b], sigma)[inside] / m0
                cov[:, a, b] = cov[:, b, a] = second - mean[:, a] * mean[:, b]
        plane = np.linalg.eigh(cov)[1][:, :, 1:]  # the two longest extents
        course = JHU_COURSE[label] / np.linalg.norm(JHU_COURSE[label])
        direction = np.einsum("nij,nj->ni", plane, np.einsum("nij,i->nj", plane, course))
        sub = field[box]
        sub[inside] = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
        field[box] = sub
    to_atlas = np.linalg.inv(affine)

    def fibres(points: np.ndarray) -> np.ndarray:
        ijk = np.rint(points @ to_atlas[:3, :3].T + to_atlas[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < labels.shape), axis=1)
        out = np.zeros((len(points), 3))
        out[inside] = field[tuple(ijk[inside].T)]
        return out

    return fibres

"""Reading and writing images (NIfTI, NRRD) as RAS-frame ``Volume`` objects.

LPS (NRRD, ITK) is converted to RAS here, once, at the edge.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise GlymphError if it is not a readable file."""
    p = Path(path)
    if not p.is_file():
        raise GlymphError(f"{what} not found: {p} (check the path)")
    return p


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def is_nrrd(path: Path) -> bool:
    return path.name.lower().endswith(NRRD_SUFFIXES)


def strip_image_suffix(path: Path) -> str:
    """File name without .nii, .nii.gz, .nrrd or .nhdr."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_nifti(path: Path, what: str = "image") -> Volume:
    """Read a NIfTI file as float32 (scaling applied) on its sform/qform RAS grid."""
    try:
        img = load_nifti(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise GlymphError(f"cannot read {what} {path}: {exc}") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim < 3:
        raise GlymphError(f"{what} {path} is a {data.ndim}D image; a 3D volume is needed")
    return Volume(data, np.asarray(img.affine, dtype=np.float64))


def nrrd_affine(header: dict, spatial_axes: list[int]) -> np.ndarray:
    """Voxel-to-RAS affine from a NRRD header's space, space directions and space origin."""
    space = str(header.get("space", "")).lower()
    if space in ("left-posterior-superior", "lps"):
        to_ras = LPS_TO_RAS
    elif space in ("right-anterior-superior", "ras"):
        to_ras = np.eye(3)
    else:
        raise GlymphError(
            f"NRRD space '{space or 'missing'}' is not supported; re-save the file from Slicer (RAS or LPS space)"
        )
    directions = np.asarray(header["space directions"], dtype=np.float64)[spatial_axes]
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = to_ras @ directions.T
    affine[:3, 3] = to_ras @ origin
    return affine


def read_nrrd(path: Path, what: str = "image") -> tuple[np.ndarray, dict, list[int], int | None]:
    """Read NRRD data and header; return data, header, spatial axes and the list axis (or None)."""
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as exc:
        raise GlymphError(f"cannot read {what} {path}: {exc}") from None
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * data.ndim)]
    spatial = [i for i, k in enumerate(kinds) if k in ("domain", "space")]
    others = [i for i in range(data.ndim) if i not in spatial]
    if len(spatial) != 3 or len(others) > 1:
        raise GlymphError(f"{what} {path} is not a 3D volume (NRRD kinds: {' '.join(kinds)})")
    if "space directions" not in header:
        raise GlymphError(f"{what} {path} has no 'space directions'; re-save it from Slicer")
    return data, header, spatial, (others[0] if others else None)


def read_volume(path: str | os.PathLike, what: str = "image") -> Volume:
    """Read a 3D or 4D NIfTI or a 3D NRRD image as a RAS ``Volume`` (float32)."""
    p = existing_file(path, what)
    if is_nifti(p):
        return read_nifti(p, what)
    if is_nrrd(p):
        data, header, spatial, list_axis = read_nrrd(p, what)
        order = spatial + ([list_axis] if list_axis is not None else [])
        return Volume(np.transpose(data, order).astype(np.float32), nrrd_affine(header, spatial))
    raise GlymphError(f"{what} {p}: unsupported format; use NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr)")


def nifti_image(volume: Volume, dtype: type | np.dtype = np.float32):
    """A nibabel NIfTI image of ``volume`` with both sform and qform set to its affine."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(volume.data).astype(dtype, copy=False), volume.affine)
    img.header.set_sform(volume.affine, code=1)
    img.header.set_qform(volume.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    return img


def load_nifti(path: str | os.PathLike):
    """``nibabel.load``, with a gzipped file decompressed by ISA-L (``isal``; zlib dominated reading a
    DWI), or taken from ``glymph.prefetch.read_ahead``."""
    import nibabel as nib

    from glymph.prefetch import take

    path = Path(path)
    if not path.name.lower().endswith(".gz"):
        return nib.load(str(path))
    raw = take(path)
    return nifti_from_gzip(path.read_bytes()) if raw is None else nifti_from_bytes(raw)


def nifti_from_gzip(compressed: bytes):
    """A NIfTI-1 or NIfTI-2 image from the bytes of a .nii.gz file (ISA-L decompression)."""
    from isal import igzip

    return nifti_from_bytes(igzip.decompress(compressed))


def nifti_from_bytes(raw: bytes):
    """A NIfTI-1 or NIfTI-2 image from the (uncompressed) bytes of a .nii file."""
    import nibabel as nib

    header_size = {int.from_bytes(raw[:4], order) for order in ("little", "big")}
    return (nib.Nifti2Image if 540 in header_size else nib.Nifti1Image).from_bytes(raw)


def save_nifti(img, path: str | os.PathLike) -> None:
    """``nibabel.save``, with a .gz file compressed by ISA-L (level 1, as nibabel's default). Not
    atomic on its own."""
    import nibabel as nib

    path = Path(path)
    if not path.name.lower().endswith(".gz"):
        nib.save(img, str(path))
        return
    from isal import igzip

    path.write_bytes(igzip.compress(img.to_bytes(), compresslevel=1))


def write_nifti(volume: Volume, path: str | os.PathLike, dtype: type | np.dtype = np.float32) -> None:
    """Write ``volume`` as NIfTI (compressed when the name ends in .gz). Not atomic on its own."""
    save_nifti(nifti_image(volume, dtype), path)


def write_rgb_nifti(volume: Volume, path: str | os.PathLike) -> None:
    """Write a (I, J, K, 3) volume with values in [0, 1] as an RGB24 NIfTI (Slicer: vector volume)."""
    import nibabel as nib

    rgb = np.clip(np.rint(np.asarray(volume.data) * 255.0), 0, 255).astype(np.uint8)
    packed = np.empty(rgb.shape[:3], dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    packed["R"], packed["G"], packed["B"] = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    img = nib.Nifti1Image(packed, volume.affine)
    img.header.set_sform(volume.affine, code=1)
    img.header.set_qform(volume.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    save_nifti(img, path)

"""A vein result folder: per-hemisphere and per-vein tables, the MinIPs (NIfTI, and a PNG to annotate
in Labelme), the vein label map and the plane's brain mask, ``vein.json`` and the QC picture,
written atomically; and read back (``read_vein``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.image_io import read_volume, write_nifti
from glymph.outputs import result_folder, write_csv, write_sidecar
from glymph.plotting import pyplot
from glymph.vein.midline import Midline
from glymph.vein.morphometry import Vein
from glymph.vein.pipeline import VeinResult
from glymph.vein.qc import vein_qc_figure

VEIN_FILES = (
    "vein.csv",
    "veins.csv",
    "minip.nii.gz",
    "minip_volume.nii.gz",
    "minip.png",
    "vein_seg.nii.gz",
    "minip_brain.nii.gz",
    "vein.json",
    "qc_vein.png",
)


def minip_png_array(minip: np.ndarray) -> np.ndarray:
    """The MinIP as displayed (and annotated in Labelme): subject's right on the left, anterior at
    the top; row r, column c is pixel (i, j) = (I-1-c, J-1-r)."""
    return minip.T[::-1, ::-1]


VEIN_COLUMNS = [
    "subject",
    "id",
    "hemisphere",
    "length_mm",
    "total_length_mm",
    "end_distance_mm",
    "tortuosity",
    "tortuosity_vmtk",
    "area_mm2",
    "diameter_mm",
    "diameter_area_mm",
    "branches",
    "start_x",
    "start_y",
    "end_x",
    "end_y",
    "centroid_x",
    "centroid_y",
]


def write_vein(
    result: VeinResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write ``VEIN_FILES`` into ``out``, atomically."""
    plt = pyplot()
    started = time.perf_counter() if started is None else started
    with result_folder(out, VEIN_FILES, force) as tmp:
        rows = result.hemisphere_rows()
        write_csv(tmp / "vein.csv", rows)
        write_csv(
            tmp / "veins.csv", [{"subject": result.subject, **vein.as_row()} for vein in result.veins], VEIN_COLUMNS
        )
        write_nifti(result.minip, tmp / "minip.nii.gz")
        write_nifti(
            result.minip_volume if result.minip_volume is not None else result.minip, tmp / "minip_volume.nii.gz"
        )
        write_nifti(
            result.minip.with_data(result.labels[:, :, None].astype(np.uint16)), tmp / "vein_seg.nii.gz", np.uint16
        )
        write_nifti(
            result.minip.with_data(result.brain[:, :, None].astype(np.uint8)), tmp / "minip_brain.nii.gz", np.uint8
        )
        brain_values = result.minip.data[:, :, 0][result.brain]
        top = float(np.percentile(brain_values, 99.5)) if brain_values.size else None
        plt.imsave(tmp / "minip.png", minip_png_array(result.minip.data[:, :, 0]), cmap="gray", vmin=0, vmax=top)
        vein_qc_figure(result, tmp / "qc_vein.png")
        write_sidecar(
            tmp / "vein.json",
            "vein",
            started,
            inputs,
            {**(parameters or {}), "slab_mm": result.slab_mm, "method": result.method},
            subject=result.subject,
            models={"segmentation": result.network} if result.network else {},
            level={"z_mm": result.level_z_mm, "chosen_by": result.level_reason},
            midline={"point_ras_mm": result.midline.point, "direction_ras": result.midline.direction},
            hemispheres=rows,
            veins=[{**vein.as_row(), "centreline_ras_mm": vein.centreline} for vein in result.veins],
            definitions={
                "vein": "8-connected component of the segmentation on the MinIP plane",
                "length_mm": "length of the main trunk's centreline (longest end-to-end path of the skeleton graph, "
                "centred to sub-pixel on the vein's intensity dip, ends one radius inside the vein's rounded ends)",
                "tortuosity": "centreline length / distance between its end points",
                "tortuosity_vmtk": "tortuosity - 1 (VMTK)",
                "diameter_mm": "2 r of a tube model fitted to the intensity profile across the centreline",
                "diameter_area_mm": "vein area / total skeleton length (all branches; SCV study)",
                "minip.png": "subject's right on the left, anterior at the top (for Labelme)",
                "minip_brain.nii.gz": "the analysis region: brain in any slice of the slab",
            },
        )
    return Path(out)


def read_vein(out: str | os.PathLike) -> VeinResult:
    """A vein result folder written by ``write_vein``, read back as the ``VeinResult`` it was made from
    (e.g. after ``glymph vein`` ran in another process). Writing it again gives the same tables."""
    out = Path(out)
    needed = ("vein.json", "minip.nii.gz", "minip_volume.nii.gz", "vein_seg.nii.gz", "minip_brain.nii.gz")
    missing = [name for name in needed if not (out / name).is_file()]
    if missing:
        raise GlymphError(f"{out} is not a complete vein result folder (no {', '.join(missing)})")
    sidecar = json.loads((out / "vein.json").read_text())
    minip = read_volume(out / "minip.nii.gz", "MinIP")
    sliding = read_volume(out / "minip_volume.nii.gz", "sliding MinIP")
    labels = read_volume(out / "vein_seg.nii.gz", "vein label map").data[:, :, 0]
    brain = read_volume(out / "minip_brain.nii.gz", "MinIP brain mask").data[:, :, 0]
    return VeinResult(
        sidecar["subject"],
        minip,
        None if sliding.shape[2] == 1 else sliding,  # a 2D input: the file holds the MinIP itself
        np.rint(labels).astype(np.int32),
        brain > 0,
        [vein_from_record(record) for record in sidecar["veins"]],
        Midline(tuple(sidecar["midline"]["point_ras_mm"]), tuple(sidecar["midline"]["direction_ras"])),
        float(sidecar["level"]["z_mm"]),
        sidecar["level"]["chosen_by"],
        float(sidecar["parameters"]["slab_mm"]),
        sidecar["parameters"]["method"],
        sidecar.get("models", {}).get("segmentation"),
    )


def vein_from_record(record: dict) -> Vein:
    """A ``Vein`` from its entry in ``vein.json`` (``as_row`` and ``centreline_ras_mm``)."""
    return Vein(
        id=int(record["id"]),
        hemisphere=record["hemisphere"],
        length_mm=record["length_mm"],
        total_length_mm=record["total_length_mm"],
        end_distance_mm=record["end_distance_mm"],
        tortuosity=record["tortuosity"],
        tortuosity_vmtk=record["tortuosity_vmtk"],
        area_mm2=record["area_mm2"],
        diameter_mm=record["diameter_mm"],
        diameter_area_mm=record["diameter_area_mm"],
        branches=int(record["branches"]),
        start=(record["start_x"], record["start_y"]),
        end=(record["end_x"], record["end_y"]),
        centroid=(record["centroid_x"], record["centroid_y"]),
        centreline=[tuple(point) for point in record["centreline_ras_mm"]],
    )

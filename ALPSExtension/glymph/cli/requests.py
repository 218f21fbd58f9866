"""What a run of ``glymph alps|epvs|vein`` does before and after computing, shared with the
headless Slicer batch scripts: ``read_*_request`` validates the arguments and reads the inputs
before any work; ``finish_*`` writes the result folder and prints the summary line."""

from __future__ import annotations

import argparse
from concurrent.futures import Future
from pathlib import Path

from glymph.errors import GlymphError


def _read_dwi_inputs(args: argparse.Namespace):
    from dataclasses import replace

    from glymph.dti import read_dwi
    from glymph.masks import read_mask
    from glymph.parallel import in_background
    from glymph.prefetch import ahead

    if args.b0_threshold < 0:
        raise GlymphError("--b0-threshold must be >= 0")
    if args.max_b <= args.b0_threshold:
        raise GlymphError("--max-b must be larger than --b0-threshold")
    masking, reading = None, ahead(args.dwi)
    if reading is not None and not args.mask and not preprocessing_options(args).any:
        from glymph.dti.mask_ahead import brain_mask_ahead  # the automatic mask, while the file is read

        masking = in_background(brain_mask_ahead, reading, args.dwi, args.bval, args.bvec, args.b0_threshold)
    dwi = read_dwi(args.dwi, args.bval, args.bvec, args.b0_threshold)
    mask = read_mask(args.mask, dwi.volume, "DWI") if args.mask else None
    if masking is not None:
        dwi = replace(dwi, b0_mask=masking.result())
    return dwi, mask


def preprocessing_options(args: argparse.Namespace):
    """The ``--denoise``, ``--unring`` and ``--motion-correct`` choices as ``Preprocessing``."""
    from glymph.dti.preprocess import Preprocessing

    return Preprocessing(args.denoise, args.unring, args.motion_correct)  # motion_correct: "none", "rigid", "affine"


def preprocessing_parameters(args: argparse.Namespace) -> dict:
    """The preprocessing choices as sidecar parameters."""
    return {
        "denoise": args.denoise,
        "unring": args.unring,
        "motion_correct": args.motion_correct,
        "gradient_check": args.gradient_check,
    }


def gradient_paths(args: argparse.Namespace) -> dict:
    """The FSL gradient files a NIfTI DWI was read with (for the sidecar's inputs)."""
    from glymph.dti.gradients import default_gradient_files
    from glymph.image_io import is_nifti

    dwi = Path(args.dwi)
    if not is_nifti(dwi):
        return {}
    bval, bvec = default_gradient_files(dwi)
    return {"bval": args.bval or bval, "bvec": args.bvec or bvec}


def read_dti_request(args: argparse.Namespace):
    """Validate and read a tensor fit's inputs, before any work: (dwi, mask)."""
    from glymph.dti.files import DTI_FILES
    from glymph.outputs import check_out_dir

    check_out_dir(args.out, DTI_FILES, args.force)
    return _read_dwi_inputs(args)


def read_alps_request(args: argparse.Namespace):
    """Validate and read everything an ALPS run needs, before any work: (dwi, mask, rois)."""
    from glymph.alps.files import ALPS_FILES
    from glymph.alps.markups import read_markups
    from glymph.outputs import check_out_dir

    if args.rois and args.roi_set:
        raise GlymphError("give either --roi-set (atlas placement) or --rois (your own points), not both")
    if args.rois and args.placement != "atlas":
        raise GlymphError(f"--placement {args.placement} places the ROIs itself; leave it out when giving --rois")
    if args.threads is not None and args.threads < 1:
        raise GlymphError("--threads must be at least 1")
    check_out_dir(args.out, ALPS_FILES, args.force)
    check_roi_measures(args)
    rois = read_markups(args.rois, args.roi_diameters[0]) if args.rois else None
    dwi, mask = _read_dwi_inputs(args)
    return dwi, mask, rois


def check_roi_measures(args: argparse.Namespace) -> None:
    """Fail early, before reading anything, on ROI diameters that are not positive or an FA cut
    outside [0, 1)."""
    from glymph.alps.rois import check_min_fa

    for diameter in args.roi_diameters or ():
        if not diameter > 0:
            raise GlymphError(f"--roi-diameter must be a positive number of mm, got {diameter:g}")
    if args.roi_min_fa is not None:
        check_min_fa(args.roi_min_fa)


def alps_subject(args: argparse.Namespace) -> str:
    """The subject ID of an ALPS run: ``--subject``, else the DWI's file name."""
    from glymph.image_io import strip_image_suffix

    return args.subject or strip_image_suffix(Path(args.dwi))


def alps_roi_set(args: argparse.Namespace) -> str:
    """The built-in ROI set of an ALPS run (the default when neither --roi-set nor --rois is given)."""
    from glymph.defaults import ROI_SET

    return args.roi_set or ROI_SET


def dwi_inputs(args: argparse.Namespace) -> dict:
    """The files a ``glymph dti`` or ``glymph alps`` run reads, by name (for the sidecar's inputs)."""
    return {"dwi": args.dwi, **gradient_paths(args), "mask": args.mask, "rois": getattr(args, "rois", None)}


def describe_dwi_inputs(args: argparse.Namespace) -> Future[dict]:
    """The sidecar's inputs with their checksums, computed on a thread while the run goes on
    (hashing a 100 MB DWI takes 0.6 s; ``glymph.outputs.describe_inputs``)."""
    from glymph.outputs import describe_inputs
    from glymph.parallel import in_background

    return in_background(describe_inputs, dwi_inputs(args))


def finish_alps(args: argparse.Namespace, result, started: float, inputs: Future[dict] | None = None) -> None:
    """Write an ALPS run's files into ``--out`` (sidecar: inputs with checksums, parameters, time
    since ``started``) and print its summary line. The CLI and the ALPS batch script end here.
    ``inputs``: the checksums started by ``describe_dwi_inputs`` (computed now if None)."""
    from glymph.alps.files import write_alps
    from glymph.outputs import describe_inputs

    inputs = inputs.result() if inputs is not None else describe_inputs(dwi_inputs(args))
    parameters = {
        "roi_set": None if args.rois else alps_roi_set(args),
        "roi_diameter_mm": args.roi_diameters[0],
        "sensitivity_diameters_mm": [row["diameter_mm"] for row in result.sensitivity],
        "roi_min_fa": args.roi_min_fa,
        "frame": args.frame,
        "placement": "markups" if args.rois else args.placement,
        "registration_contrast": args.registration_contrast,
        "max_b": args.max_b,
        "b0_threshold": args.b0_threshold,
        **preprocessing_parameters(args),
    }
    write_alps(result, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    index = result.index
    print(
        f"{result.subject}: ALPS left {index.alps_L:.4f}  right {index.alps_R:.4f}  mean {index.alps:.4f}  ({index.frame} frame)"
    )


def read_epvs_request(args: argparse.Namespace):
    """Validate and read everything an EPVS run needs, before any work: (t1, t2, mask, subject)."""
    from glymph.defaults import EPVS_METHODS
    from glymph.epvs.files import EPVS_FILES
    from glymph.image_io import read_volume, strip_image_suffix
    from glymph.outputs import check_out_dir

    check_out_dir(args.out, EPVS_FILES, args.force)
    EPVS_METHODS.get(args.method)
    if args.threads is not None and args.threads < 1:
        raise GlymphError("--threads must be at least 1")
    t1 = read_volume(args.t1, "T1")
    t2 = read_volume(args.t2, "T2") if args.t2 else None
    mask = read_volume(args.mask, "mask") if args.mask else None
    return t1, t2, mask, args.subject or strip_image_suffix(Path(args.t1))


def finish_epvs(args: argparse.Namespace, result, started: float) -> None:
    """Write an EPVS run's files into ``--out`` and print its summary line (CLI and batch script)."""
    from glymph.epvs.files import write_epvs
    from glymph.outputs import describe_inputs

    inputs = describe_inputs({"t1": args.t1, "t2": args.t2, "mask": args.mask})
    parameters = {"model_dir": args.model_dir, "device": args.device, "flips": args.flips}
    write_epvs(result, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    summary = result.summary()
    print(
        f"{result.subject}: {summary['count']} EPVS, {summary['total_volume_mm3']:.0f} mm3 (basal ganglia {summary['count_bg']}, "
        f"centrum semiovale {summary['count_cso']}, midbrain {summary['count_midbrain']}) -> {args.out}"
    )


def read_vein_request(args: argparse.Namespace):
    """Validate and read a vein run's inputs before any work: (swi, mask, subject)."""
    from glymph.defaults import VEIN_METHODS
    from glymph.image_io import read_volume, strip_image_suffix
    from glymph.outputs import check_out_dir
    from glymph.vein.files import VEIN_FILES

    check_out_dir(args.out, VEIN_FILES, args.force)
    VEIN_METHODS.get(args.method)
    swi = read_volume(args.swi, "SWI")
    mask = read_volume(args.mask, "mask") if args.mask else None
    return swi, mask, args.subject or strip_image_suffix(Path(args.swi))


def finish_vein(args: argparse.Namespace, result, started: float) -> None:
    """Write a vein run's files into ``--out`` and print its summary line (CLI and batch script)."""
    from glymph.outputs import describe_inputs
    from glymph.vein.files import write_vein

    inputs = describe_inputs({"swi": args.swi, "mask": args.mask})
    parameters = {"slab_center_mm": args.slab_center_mm}
    write_vein(result, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    rows = {row["hemisphere"]: row for row in result.hemisphere_rows()}
    print(
        f"{result.subject}: "
        + "; ".join(
            f"{h} {rows[h]['count']} veins, diameter {rows[h]['diameter_mm']:.2f} mm, tortuosity {rows[h]['tortuosity']:.3f}"
            for h in ("left", "right")
        )
        + f" -> {args.out}"
    )


FINISH = {"alps": finish_alps, "epvs": finish_epvs, "vein": finish_vein}

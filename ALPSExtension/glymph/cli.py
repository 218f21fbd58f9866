"""The ``glymph`` command line. Heavy packages are imported inside the commands, not here."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from glymph import __version__
from glymph.errors import GlymphError

log = logging.getLogger("glymph")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "glymph: " if record.levelno < logging.WARNING else f"glymph: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def _add_run_arguments(
    p: argparse.ArgumentParser, out_help: str = "folder for the results (created if needed)"
) -> None:
    """What every result-writing command takes: --out, --force and -q (also accepted after the command)."""
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--force", action="store_true", help="replace results already in --out")
    p.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print warnings and errors only"
    )


def _add_dwi_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dwi", help="diffusion-weighted image: NIfTI (.nii, .nii.gz) with FSL bval/bvec, or Slicer NRRD DWI")
    p.add_argument("--bval", help="FSL b-values (default: the DWI name with .bval)")
    p.add_argument("--bvec", help="FSL b-vectors (default: the DWI name with .bvec)")
    _add_run_arguments(p)
    p.add_argument("--mask", help="brain mask on the DWI grid (default: automatic from the b0)")
    p.add_argument(
        "--max-b",
        type=float,
        default=1500.0,
        metavar="B",
        help="fit the tensor on shells with b <= B s/mm^2 (default 1500)",
    )
    p.add_argument(
        "--b0-threshold", type=float, default=50.0, metavar="B", help="volumes with b <= B count as b0 (default 50)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glymph", description="Quantitative glymphatic MRI: DTI-ALPS (more to come).")
    parser.add_argument("--version", action="version", version=f"glymph {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    alps = commands.add_parser(
        "alps",
        help="DTI-ALPS index from a DWI",
        description="Fit tensors, place the four ALPS ROIs (atlas registration or --rois) and compute the ALPS index.",
    )
    _add_dwi_arguments(alps)
    alps.add_argument("--roi-set", choices=("chen2025", "jhu"), help="built-in MNI152 ROI centres (default chen2025)")
    alps.add_argument(
        "--rois",
        metavar="F.mrk.json",
        help="Slicer markups with points proj_L, proj_R, assoc_L, assoc_R (subject space); replaces the atlas placement",
    )
    alps.add_argument(
        "--roi-diameter", type=float, default=5.0, metavar="MM", help="ROI sphere diameter in mm (default 5)"
    )
    alps.add_argument(
        "--frame",
        choices=("image", "anatomical"),
        default="image",
        help="axes of Dxx, Dyy, Dzz in alps.csv: scanner RAS (image, classic) or template-aligned (anatomical, tilt-corrected); alps.json holds both",
    )
    alps.add_argument(
        "--registration-contrast",
        choices=("fa", "b0"),
        default="fa",
        help="register the FA (to the MNI152 white matter map, default) or the b0 (to the MNI152 T1)",
    )
    alps.add_argument("--subject", help="subject ID in alps.csv (default: the DWI file name)")
    alps.set_defaults(run=_run_alps)

    dti = commands.add_parser(
        "dti",
        help="tensor, FA, MD and colour-FA from a DWI",
        description="Fit diffusion tensors (weighted least squares) and write tensor, FA, MD, colour-FA and mask.",
    )
    _add_dwi_arguments(dti)
    dti.set_defaults(run=_run_dti)

    epvs = commands.add_parser(
        "epvs",
        help="enlarged perivascular spaces from a T1 (and T2)",
        description="Segment, count and measure enlarged perivascular spaces (EPVS) in a T1, optionally with a T2.",
    )
    epvs.add_argument("t1", help="T1-weighted image (NIfTI or NRRD)")
    epvs.add_argument("--t2", help="T2-weighted image of the same session (registered to the T1 here)")
    _add_run_arguments(epvs)
    epvs.add_argument("--mask", help="brain mask on the T1 grid (default: deepbet brain extraction)")
    epvs.add_argument(
        "--method", default="classical", help="segmentation method (default classical: multi-scale vesselness)"
    )
    epvs.add_argument(
        "--min-length-mm", type=float, default=2.0, metavar="MM", help="remove components shorter than this (default 2)"
    )
    epvs.add_argument("--subject", help="subject ID in the tables (default: the T1 file name)")
    epvs.add_argument(
        "--model-dir",
        help="folder (or file) holding the brain-extraction networks (default: cache, then the deepbet package)",
    )
    epvs.set_defaults(run=_run_epvs)

    vein = commands.add_parser(
        "vein",
        help="superficial cerebral veins on SWI (also: glymph vein import-labelme ...)",
        description="MinIP of an SWI magnitude over an axial slab, mid-line, vein segmentation and per-hemisphere morphometry. "
        "`glymph vein import-labelme FILES... --reference minip.nii.gz --out DIR` turns Labelme polygons into label maps.",
    )
    vein.add_argument("swi", help="SWI magnitude (3D NIfTI or NRRD, any orientation) or a 2D MinIP")
    _add_run_arguments(vein)
    vein.add_argument("--slab-mm", type=float, default=20.0, metavar="MM", help="MinIP slab thickness (default 20)")
    vein.add_argument(
        "--slab-center-mm",
        type=float,
        metavar="Z",
        help="RAS z of the slab centre (default: lateral ventricle bodies, largest brain section)",
    )
    vein.add_argument(
        "--method", default="classical", help="segmentation method (default classical: vesselness of dark ridges)"
    )
    vein.add_argument("--mask", help="brain mask on the SWI grid (default: automatic)")
    vein.add_argument("--subject", help="subject ID in the tables (default: the SWI file name)")
    vein.set_defaults(run=_run_vein)

    labelme = commands.add_parser(
        "vein-import-labelme",
        help=argparse.SUPPRESS,
        description="Labelme polygons (drawn on minip.png) to label maps on the MinIP grid.",
    )
    labelme.add_argument("files", nargs="+", help="Labelme JSON files")
    labelme.add_argument(
        "--reference", required=True, help="the minip.nii.gz the annotations were drawn on (its minip.png)"
    )
    _add_run_arguments(labelme, "folder for the label maps (<file name>.nii.gz)")
    labelme.add_argument("--label", action="append", help="keep only shapes with this label (repeatable; default all)")
    labelme.set_defaults(run=_run_import_labelme)

    evaluate = commands.add_parser(
        "evaluate",
        help="agreement of a segmentation with a reference",
        description="Dice, recall, precision, lesion-level sensitivity/precision/F1 and volume differences of PRED against REF "
        "(two label maps, or two folders of same-named label maps); Bland-Altman for cohorts (two folders, or two CSV files with --column).",
    )
    evaluate.add_argument("predicted", help="label map, folder of label maps, or CSV (subject column)")
    evaluate.add_argument("reference", help="the same kind as PRED")
    evaluate.add_argument(
        "--column", default="total_volume_mm3", help="CSV column compared by Bland-Altman (default total_volume_mm3)"
    )
    evaluate.add_argument(
        "--out", help="write the results to F (.csv or .json); cohorts also get F's name + _bland_altman.png"
    )
    evaluate.add_argument("--force", action="store_true", help="replace --out if it exists")
    evaluate.set_defaults(run=_run_evaluate)

    demo = commands.add_parser(
        "demo",
        help="compute ALPS on a phantom and write the results",
        description="Build a DWI phantom on MNI152 anatomy with a known ALPS index and run 'glymph alps' on it.",
    )
    demo.add_argument(
        "--out", default="demo-output", help="folder for the phantom and the results (default demo-output)"
    )
    demo.set_defaults(run=_run_demo)
    return parser


def _read_inputs(args: argparse.Namespace):
    from glymph.dwi import read_dwi
    from glymph.mask import read_mask

    if args.b0_threshold < 0:
        raise GlymphError("--b0-threshold must be >= 0")
    if args.max_b <= args.b0_threshold:
        raise GlymphError("--max-b must be larger than --b0-threshold")
    dwi = read_dwi(args.dwi, args.bval, args.bvec, args.b0_threshold)
    mask = read_mask(args.mask, dwi.volume) if args.mask else None
    return dwi, mask


def _gradient_paths(args: argparse.Namespace) -> dict:
    from glymph.dwi import default_gradient_files
    from glymph.image_io import is_nifti

    dwi = Path(args.dwi)
    if not is_nifti(dwi):
        return {}
    bval, bvec = default_gradient_files(dwi)
    return {"bval": args.bval or bval, "bvec": args.bvec or bvec}


def _run_dti(args: argparse.Namespace) -> None:
    from glymph.outputs import check_out_dir, describe_inputs
    from glymph.pipeline import DTI_FILES, fit_dti, write_dti

    started = time.perf_counter()
    check_out_dir(args.out, DTI_FILES, args.force)
    dwi, mask = _read_inputs(args)
    dti = fit_dti(dwi, mask, args.max_b, mask_source=args.mask)
    inputs = describe_inputs({"dwi": args.dwi, **_gradient_paths(args), "mask": args.mask})
    parameters = {"max_b": args.max_b, "b0_threshold": args.b0_threshold}
    write_dti(dti, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    log.info("wrote %s", args.out)


def read_alps_request(args: argparse.Namespace):
    """Validate and read everything an ALPS run needs, before any work: (dwi, mask, rois)."""
    from glymph.markups import read_markups
    from glymph.outputs import check_out_dir
    from glymph.pipeline import ALPS_FILES

    if args.rois and args.roi_set:
        raise GlymphError("give either --roi-set (atlas placement) or --rois (your own points), not both")
    check_out_dir(args.out, ALPS_FILES, args.force)
    rois = read_markups(args.rois, args.roi_diameter) if args.rois else None
    dwi, mask = _read_inputs(args)
    return dwi, mask, rois


def alps_subject(args: argparse.Namespace) -> str:
    from glymph.image_io import strip_image_suffix

    return args.subject or strip_image_suffix(Path(args.dwi))


def finish_alps(args: argparse.Namespace, result, started: float) -> None:
    """Write an ALPS run's files into ``--out`` (sidecar: inputs with checksums, parameters, time
    since ``started``) and print its summary line. The CLI and the ALPS batch script end here."""
    from glymph.outputs import describe_inputs
    from glymph.pipeline import write_alps

    inputs = describe_inputs({"dwi": args.dwi, **_gradient_paths(args), "mask": args.mask, "rois": args.rois})
    parameters = {
        "roi_set": None if args.rois else (args.roi_set or "chen2025"),
        "roi_diameter_mm": args.roi_diameter,
        "frame": args.frame,
        "registration_contrast": args.registration_contrast,
        "max_b": args.max_b,
        "b0_threshold": args.b0_threshold,
    }
    write_alps(result, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    index = result.index
    print(
        f"{result.subject}: ALPS left {index.alps_L:.4f}  right {index.alps_R:.4f}  mean {index.alps:.4f}  ({index.frame} frame)"
    )


def _run_alps(args: argparse.Namespace) -> None:
    from glymph.pipeline import run_alps

    started = time.perf_counter()
    dwi, mask, rois = read_alps_request(args)
    result = run_alps(
        dwi,
        mask=mask,
        roi_set=args.roi_set or "chen2025",
        rois=rois,
        roi_diameter_mm=args.roi_diameter,
        frame=args.frame,
        contrast=args.registration_contrast,
        max_b=args.max_b,
        subject=alps_subject(args),
        mask_source=args.mask,
    )
    finish_alps(args, result, started)


def read_epvs_request(args: argparse.Namespace):
    """Validate and read everything an EPVS run needs, before any work: (t1, t2, mask, subject)."""
    from glymph.epvs import EPVS_FILES
    from glymph.image_io import read_volume, strip_image_suffix
    from glymph.outputs import check_out_dir
    from glymph.segmentation import get_method

    check_out_dir(args.out, EPVS_FILES, args.force)
    get_method(args.method)
    t1 = read_volume(args.t1, "T1")
    t2 = read_volume(args.t2, "T2") if args.t2 else None
    mask = read_volume(args.mask, "mask") if args.mask else None
    return t1, t2, mask, args.subject or strip_image_suffix(Path(args.t1))


def finish_epvs(args: argparse.Namespace, result, started: float) -> None:
    """Write an EPVS run's files into ``--out`` and print its summary line (CLI and batch script)."""
    from glymph.epvs import write_epvs
    from glymph.outputs import describe_inputs

    inputs = describe_inputs({"t1": args.t1, "t2": args.t2, "mask": args.mask})
    parameters = {"model_dir": args.model_dir}
    write_epvs(result, args.out, inputs=inputs, parameters=parameters, started=started, force=args.force)
    summary = result.summary()
    print(
        f"{result.subject}: {summary['count']} EPVS, {summary['total_volume_mm3']:.0f} mm3 (basal ganglia {summary['count_bg']}, "
        f"centrum semiovale {summary['count_cso']}, midbrain {summary['count_midbrain']}) -> {args.out}"
    )


def _run_epvs(args: argparse.Namespace) -> None:
    from glymph.epvs import run_epvs

    started = time.perf_counter()
    t1, t2, mask, subject = read_epvs_request(args)
    result = run_epvs(t1, t2, mask, args.method, args.min_length_mm, subject, args.model_dir)
    finish_epvs(args, result, started)


def read_vein_request(args: argparse.Namespace):
    """Validate and read a vein run's inputs before any work: (swi, mask, subject)."""
    from glymph.image_io import read_volume, strip_image_suffix
    from glymph.outputs import check_out_dir
    from glymph.vein import VEIN_FILES
    from glymph.vein_segmentation import get_method

    check_out_dir(args.out, VEIN_FILES, args.force)
    get_method(args.method)
    swi = read_volume(args.swi, "SWI")
    mask = read_volume(args.mask, "mask") if args.mask else None
    return swi, mask, args.subject or strip_image_suffix(Path(args.swi))


def finish_vein(args: argparse.Namespace, result, started: float) -> None:
    """Write a vein run's files into ``--out`` and print its summary line (CLI and batch script)."""
    from glymph.outputs import describe_inputs
    from glymph.vein import write_vein

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


def _run_vein(args: argparse.Namespace) -> None:
    from glymph.vein import run_vein

    started = time.perf_counter()
    swi, mask, subject = read_vein_request(args)
    result = run_vein(swi, mask, args.slab_mm, args.slab_center_mm, args.method, subject)
    finish_vein(args, result, started)


def _run_import_labelme(args: argparse.Namespace) -> None:
    import numpy as np

    from glymph.image_io import read_volume, write_nifti
    from glymph.labelme import labelme_to_labels
    from glymph.outputs import atomic_out_dir

    reference = read_volume(args.reference, "reference MinIP")
    if reference.data.ndim == 2:
        reference = reference.with_data(reference.data[:, :, None])
    names = tuple(Path(f).name.removesuffix(".json") + ".nii.gz" for f in args.files)
    maps = [labelme_to_labels(f, reference, tuple(args.label) if args.label else None) for f in args.files]
    with atomic_out_dir(args.out, names, args.force) as tmp:
        for name, labels in zip(names, maps, strict=True):
            write_nifti(labels, tmp / name, np.uint16)
    for name, labels in zip(names, maps, strict=True):
        print(f"{name}: {int(labels.data.max())} polygons")


def _run_evaluate(args: argparse.Namespace) -> None:
    from glymph.evaluation import bland_altman_plot, evaluate_paths
    from glymph.outputs import write_table

    out = Path(args.out) if args.out else None
    if out is not None:
        if out.suffix not in (".csv", ".json"):
            raise GlymphError("--out must end in .csv or .json")
        if out.exists() and not args.force:
            raise GlymphError(f"{out} exists; pass --force to replace it")
    report = evaluate_paths(Path(args.predicted), Path(args.reference), args.column)
    for row in report.rows:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    ba = report.bland_altman
    if ba is not None:
        print(
            f"Bland-Altman (n={ba.n}): bias {ba.bias:.4g}, limits of agreement {ba.lower_limit:.4g} to {ba.upper_limit:.4g}"
        )
    if out is not None:
        write_table(report.rows, out, {"bland_altman": ba.as_dict()} if ba else None)
        if ba is not None:
            bland_altman_plot(
                report.predicted, report.reference, ba, out.with_name(out.stem + "_bland_altman.png"), report.quantity
            )


def _run_demo(args: argparse.Namespace) -> None:
    from glymph.phantoms import HeadPose, alps_phantom, write_fsl

    out = Path(args.out)
    (out / "phantom").mkdir(parents=True, exist_ok=True)
    pose = HeadPose(tilt_deg=(8.0, -6.0, 4.0), shift_mm=(4.0, -6.0, 10.0), scale=1.05)
    log.info("building a DWI phantom on MNI152 anatomy (true ALPS: left 1.30, right 1.60; head tilted)")
    phantom = alps_phantom(alps_left=1.3, alps_right=1.6, pose=pose, snr=30.0, seed=7)
    dwi_path, _, _ = write_fsl(phantom.dwi, str(out / "phantom" / "dwi.nii.gz"), storage="LAS")
    argv = ["alps", dwi_path, "--out", str(out), "--subject", "phantom", "--frame", "anatomical", "--force"]
    log.info("running: glymph %s", " ".join(argv))
    args = build_parser().parse_args(argv)
    args.run(args)
    print(
        f"truth:   ALPS left {phantom.alps_left:.4f}  right {phantom.alps_right:.4f}  mean {phantom.alps:.4f}; QC picture: {out / 'qc_alps.png'}"
    )


def setup_logging(quiet: bool = False) -> None:
    """Progress and warnings of the ``glymph`` logger on stderr, prefixed ``glymph:``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``glymph`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # `glymph vein import-labelme` is its own command
        if argv[i : i + 2] == ["vein", "import-labelme"]:
            argv[i : i + 2] = ["vein-import-labelme"]
            break
    args = build_parser().parse_args(argv)
    setup_logging(args.quiet)
    try:
        args.run(args)
    except GlymphError as error:
        print(f"glymph: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glymph: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

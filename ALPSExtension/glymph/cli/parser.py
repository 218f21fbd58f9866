"""The argument parser of the ``glymph`` command: one function per command, defaults from
``glymph.defaults``. Imports nothing heavy (nor the commands), so ``glymph --help`` answers at once."""

from __future__ import annotations

import argparse

from glymph import __version__, defaults


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``glymph COMMAND ...`` (``args.command`` names the command: ``glymph.cli.commands.COMMANDS``)."""
    parser = argparse.ArgumentParser(
        prog="glymph",
        description="Quantitative glymphatic MRI: the DTI-ALPS index, enlarged perivascular spaces and superficial veins.",
    )
    parser.add_argument("--version", action="version", version=f"glymph {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_alps,
        _add_alps_reanalyze,
        _add_dti,
        _add_epvs,
        _add_vein,
        _add_import_labelme,
        _add_evaluate,
        _add_models,
        _add_train,
        _add_bids,
        _add_cohort,
        _add_demo,
    ):
        add(subcommands)
    return parser


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
        default=defaults.MAX_B,
        metavar="B",
        help="fit the tensor on shells with b <= B s/mm^2 (default %(default)g)",
    )
    p.add_argument(
        "--b0-threshold",
        type=float,
        default=defaults.B0_THRESHOLD,
        metavar="B",
        help="volumes with b <= B count as b0 (default %(default)g)",
    )
    raw = p.add_argument_group("preprocessing (for scanner DWIs; off by default: the DWI is taken as preprocessed)")
    raw.add_argument(
        "--denoise",
        choices=defaults.DENOISERS,
        default=defaults.DENOISE,
        help="denoise first: MP-PCA (as MRtrix3 dwidenoise) or Patch2Self, both dipy (default %(default)s)",
    )
    raw.add_argument("--unring", action="store_true", help="remove Gibbs ringing (dipy, as MRtrix3 mrdegibbs)")
    raw.add_argument(
        "--motion-correct",
        nargs="?",
        choices=defaults.MOTION_MODELS[1:],
        const="affine",
        default=defaults.MOTION_CORRECTION,
        help="register every volume to the b0 (affine: rigid then shears and scaling for eddy currents; rigid: "
        "head motion only) and rotate its b-vector; motion table in the sidecar (affine when given alone)",
    )
    check = p.add_argument_group(
        "gradient-table check (after MRtrix3 dwigradcheck: streamlines must run along the white matter; "
        "by default a table with flipped or swapped axes stops the run)"
    ).add_mutually_exclusive_group()
    check.add_argument(
        "--fix-gradients",
        dest="gradient_check",
        action="store_const",
        const="fix",
        default=defaults.GRADIENT_CHECK,
        help="apply the change of axes the check finds and fit again (recorded in the sidecar)",
    )
    check.add_argument(
        "--no-gradient-check", dest="gradient_check", action="store_const", const="off", help="skip the check"
    )


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Where a command's networks come from and where they run."""
    p.add_argument(
        "--model-dir",
        metavar="DIR",
        help="folder searched first for network weights (then $GLYMPH_MODEL_DIR, the user cache, the installed packages)",
    )
    p.add_argument(
        "--device",
        choices=defaults.DEVICES,
        default=defaults.DEVICE,
        help="where networks run: auto (a CUDA GPU when present, else the CPU), cpu or cuda (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=defaults.THREADS,
        metavar="N",
        help="CPU threads a network may use (default: one per core); set 1 when running many subjects side by side",
    )


def _add_alps(subcommands) -> None:
    p = subcommands.add_parser(
        "alps",
        help="DTI-ALPS index from a DWI (also: glymph alps reanalyze ...)",
        description="Fit tensors, place the four ALPS ROIs (atlas registration, the learned detector, or --rois) "
        "and compute the ALPS index. `glymph alps reanalyze ALPS_DIR ...` recomputes the index of a finished "
        "result folder with other ROIs, diameters, FA cut or frame.",
    )
    _add_dwi_arguments(p)
    p.add_argument(
        "--roi-set", choices=tuple(defaults.ROI_SETS), help=f"built-in MNI152 ROI centres (default {defaults.ROI_SET})"
    )
    p.add_argument(
        "--rois",
        metavar="F.mrk.json",
        help="Slicer markups with points proj_L, proj_R, assoc_L, assoc_R (subject space); replaces the atlas placement",
    )
    p.add_argument(
        "--placement",
        choices=defaults.AUTOMATIC_PLACEMENTS,
        default=defaults.PLACEMENT,
        help="where the ROIs go without --rois: the atlas centres through the affine registration, or the learned "
        "detector on the colour FA (falls back to the atlas when its detection is implausible) (default %(default)s)",
    )
    _add_roi_measure_arguments(p, defaults.ROI_DIAMETER_MM, defaults.FRAME)
    p.add_argument(
        "--registration-contrast",
        choices=defaults.REGISTRATION_CONTRASTS,
        default=defaults.REGISTRATION_CONTRAST,
        help="register the FA (to the MNI152 white matter map, default) or the b0 (to the MNI152 T1)",
    )
    p.add_argument("--subject", help="subject ID in alps.csv (default: the DWI file name)")
    _add_model_arguments(p)


def _add_roi_measure_arguments(p: argparse.ArgumentParser, diameter: float | None, frame: str | None) -> None:
    """How the index is read from the placed ROIs (``glymph alps`` and ``glymph alps reanalyze``)."""
    keep = "default: as in the earlier run"
    p.add_argument(
        "--roi-diameter",
        type=float,
        nargs="+",
        default=None if diameter is None else [diameter],
        metavar="MM",
        dest="roi_diameters",
        help="ROI sphere diameter in mm; several (3 5 7) add the index for each to alps.json as a sensitivity "
        f"table, the first is the one in alps.csv ({keep if diameter is None else f'default {diameter:g}'})",
    )
    p.add_argument(
        "--roi-min-fa",
        type=float,
        metavar="FA",
        help="drop ROI voxels with a lower FA (e.g. 0.2: grey matter and CSF at a sphere's edge); alps.json "
        f"gives the voxel counts before and after ({keep if diameter is None else 'default: keep all'})",
    )
    p.add_argument(
        "--frame",
        choices=defaults.FRAMES,
        default=frame,
        help="axes of Dxx, Dyy, Dzz in alps.csv: scanner RAS (image, classic) or template-aligned (anatomical, "
        f"tilt-corrected); alps.json holds both ({keep if frame is None else f'default {frame}'})",
    )


def _add_alps_reanalyze(subcommands) -> None:
    """`glymph alps reanalyze` (``main`` turns those two words into this hidden command)."""
    p = subcommands.add_parser(
        "alps-reanalyze",
        prog="glymph alps reanalyze",
        help=argparse.SUPPRESS,
        description="Recompute the ALPS index from the tensors, ROIs and registration saved by an earlier "
        "`glymph alps` run, without fitting or registering again. Without --out the folder itself is "
        "rewritten (needs --force).",
    )
    p.add_argument("folder", metavar="ALPS_DIR", help="the --out folder of an earlier `glymph alps` run")
    p.add_argument("--out", help="folder for the new results (default: ALPS_DIR itself, with --force)")
    p.add_argument("--force", action="store_true", help="replace results already in --out")
    p.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print warnings and errors only"
    )
    rois = p.add_mutually_exclusive_group()
    rois.add_argument(
        "--rois", metavar="F.mrk.json", help="new ROI centres: Slicer markups with proj_L, proj_R, assoc_L, assoc_R"
    )
    rois.add_argument(
        "--roi-set",
        choices=tuple(defaults.ROI_SETS),
        help="a built-in MNI152 ROI set mapped through the saved registration",
    )
    _add_roi_measure_arguments(p, None, None)
    p.add_argument("--subject", help="subject ID in alps.csv (default: as in the earlier run)")


def _add_dti(subcommands) -> None:
    p = subcommands.add_parser(
        "dti",
        help="tensor, FA, MD and colour-FA from a DWI",
        description="Fit diffusion tensors (weighted least squares) and write tensor, FA, MD, colour-FA and mask.",
    )
    _add_dwi_arguments(p)


def _add_epvs(subcommands) -> None:
    p = subcommands.add_parser(
        "epvs",
        help="enlarged perivascular spaces from a T1 (and T2)",
        description="Segment, count and measure enlarged perivascular spaces (EPVS) in a T1, optionally with a T2.",
    )
    p.add_argument("t1", help="T1-weighted image (NIfTI or NRRD), or with --contrast t2 a T2-weighted one")
    p.add_argument(
        "--t2",
        help="T2-weighted image of the same session (registered to the T1 here); a T2 of thick slices beside "
        "a T1 without them is not read for tubes, only by the learned method's network (epvs.json: t2_vesselness)",
    )
    p.add_argument(
        "--contrast",
        choices=("t1", "t2"),
        default="t1",
        help="what the image is: t1 (default), or t2 for a T2 alone (learned method; CSF must be bright)",
    )
    _add_run_arguments(p)
    p.add_argument("--mask", help="brain mask on the T1 grid (default: deepbet brain extraction)")
    p.add_argument(
        "--method",
        default=defaults.EPVS_METHOD,
        help=f"segmentation method: {', '.join(defaults.EPVS_METHODS.names)} (default %(default)s)",
    )
    p.add_argument(
        "--min-length-mm",
        type=float,
        default=defaults.MIN_LENGTH_MM,
        metavar="MM",
        help="remove components shorter than this (default %(default)g)",
    )
    p.add_argument(
        "--flips",
        action="store_true",
        help="learned method: also segment the image flipped along each axis and average (4x the time)",
    )
    p.add_argument("--subject", help="subject ID in the tables (default: the T1 file name)")
    _add_model_arguments(p)


def _add_vein(subcommands) -> None:
    p = subcommands.add_parser(
        "vein",
        help="superficial cerebral veins on SWI (also: glymph vein import-labelme ...)",
        description="MinIP of an SWI magnitude over an axial slab, mid-line, vein segmentation and per-hemisphere morphometry. "
        "`glymph vein import-labelme FILES... --reference minip.nii.gz --out DIR` turns Labelme polygons into label maps.",
    )
    p.add_argument("swi", help="SWI magnitude (3D NIfTI or NRRD, any orientation) or a 2D MinIP")
    _add_run_arguments(p)
    p.add_argument(
        "--slab-mm",
        type=float,
        default=defaults.SLAB_MM,
        metavar="MM",
        help="MinIP slab thickness (default %(default)g)",
    )
    p.add_argument(
        "--slab-center-mm",
        type=float,
        metavar="Z",
        help="RAS z of the slab centre (default: lateral ventricle bodies, largest brain section)",
    )
    p.add_argument(
        "--method",
        default=defaults.VEIN_METHOD,
        help=f"segmentation method: {', '.join(defaults.VEIN_METHODS.names)} (default %(default)s)",
    )
    p.add_argument("--mask", help="brain mask on the SWI grid (default: automatic)")
    p.add_argument(
        "--flips",
        action="store_true",
        help="learned method: also segment the MinIP mirrored left-right and average (2x the network's time)",
    )
    p.add_argument("--subject", help="subject ID in the tables (default: the SWI file name)")
    _add_model_arguments(p)


def _add_import_labelme(subcommands) -> None:
    """`glymph vein import-labelme` (``main`` turns those two words into this hidden command)."""
    p = subcommands.add_parser(
        "vein-import-labelme",
        help=argparse.SUPPRESS,
        description="Labelme polygons (drawn on minip.png) to label maps on the MinIP grid.",
    )
    p.add_argument("files", nargs="+", help="Labelme JSON files")
    p.add_argument("--reference", required=True, help="the minip.nii.gz the annotations were drawn on (its minip.png)")
    _add_run_arguments(p, "folder for the label maps (<file name>.nii.gz)")
    p.add_argument("--label", action="append", help="keep only shapes with this label (repeatable; default all)")


def _add_evaluate(subcommands) -> None:
    p = subcommands.add_parser(
        "evaluate",
        help="agreement of a segmentation with a reference",
        description="Dice, recall, precision, lesion-level sensitivity/precision/F1 and volume differences of PRED against REF "
        "(two label maps, or two folders of same-named label maps); Bland-Altman for cohorts (two folders, or two CSV files with --column).",
    )
    p.add_argument("predicted", help="label map, folder of label maps, or CSV (subject column)")
    p.add_argument("reference", help="the same kind as PRED")
    p.add_argument(
        "--column", default="total_volume_mm3", help="CSV column compared by Bland-Altman (default %(default)s)"
    )
    p.add_argument(
        "--out", help="write the results to F (.csv or .json); cohorts also get F's name + _bland_altman.png"
    )
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def _add_models(subcommands) -> None:
    p = subcommands.add_parser(
        "models",
        help="the networks glymph runs: list, info ID, verify [ID...]",
        description="List the registered networks, show one's registry entry and card, or check that every weight "
        "file is found and has the registered SHA-256 (exit status 2 if not).",
    )
    p.add_argument("action", choices=("list", "info", "verify"))
    p.add_argument("ids", nargs="*", metavar="ID", help="model ids (info: one; verify: default all)")
    p.add_argument("--model-dir", metavar="DIR", help="folder searched first for the weights, as for the commands")


def _add_train(subcommands) -> None:
    p = subcommands.add_parser(
        "train",
        help="train one of glymph's networks (roi-detector, epvs, vein; vein also on your Labelme annotations)",
        description="Train a network on synthetic data drawn from real anatomy, with fixed seeds, into a model "
        "folder usable with --model-dir (needs the training extra: pip install 'glymph[train]'). "
        "`glymph train vein --labelme DIR --images DIR --init shipped --out DIR` fine-tunes the vein network on "
        "Labelme polygons drawn on glymph's minip.png instead.",
    )
    p.add_argument(
        "network",
        choices=("roi-detector", "epvs", "vein"),
        help="roi-detector: the ALPS ROI detector (level CNN + YOLO); epvs: the EPVS segmentation network (3D U-Net); "
        "vein: the vein segmentation network (DeepLabV3+)",
    )
    p.add_argument("--out", required=True, help="model folder to create (must not hold a model unless --force)")
    p.add_argument("--force", action="store_true", help="replace a model already in --out")
    p.add_argument("--seed", type=int, default=0, help="seed of the training runs (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes drawing the data (default %(default)s)")
    detector = p.add_argument_group("roi-detector")
    detector.add_argument("--subjects", type=int, default=400, help="training subjects (default %(default)s)")
    detector.add_argument(
        "--validation-subjects", type=int, default=40, help="validation subjects (default %(default)s)"
    )
    detector.add_argument(
        "--level-epochs", type=int, default=12, help="epochs of the level network (default %(default)s)"
    )
    detector.add_argument(
        "--yolo-epochs", type=int, default=60, help="epochs of the YOLO detector (default %(default)s)"
    )
    epvs = p.add_argument_group("epvs")
    epvs.add_argument("--patches", type=int, default=2400, help="training patches (default %(default)s)")
    epvs.add_argument("--validation-patches", type=int, default=96, help="validation patches (default %(default)s)")
    epvs.add_argument("--epochs", type=int, default=12, help="passes over the training patches (default %(default)s)")
    vein = p.add_argument_group("vein")
    vein.add_argument("--minips", type=int, default=1200, help="synthetic training MinIPs (default %(default)s)")
    vein.add_argument(
        "--validation-minips", type=int, default=48, help="synthetic validation MinIPs (default %(default)s)"
    )
    vein.add_argument(
        "--steps", type=int, help="training batches (default 3000 from scratch, 300 when fine-tuning on --labelme)"
    )
    vein.add_argument(
        "--labelme",
        metavar="DIR",
        help="fine-tune on these Labelme files (NAME.json, drawn on glymph's minip.png) instead of synthetic MinIPs",
    )
    vein.add_argument(
        "--images",
        metavar="DIR",
        help="with --labelme: the annotated subjects' glymph vein result folders (NAME/minip.nii.gz) or MinIPs (NAME.nii.gz)",
    )
    vein.add_argument(
        "--init",
        default="shipped",
        metavar="FOLDER",
        help="with --labelme: the weights to start from: shipped (default; looked for as --model-dir says) or a model folder",
    )
    vein.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="with --labelme: the share of subjects kept for validation, at least one (default %(default)s)",
    )
    vein.add_argument("--model-dir", metavar="DIR", help="with --init shipped: folder searched first for the weights")


def _add_cohort_arguments(p: argparse.ArgumentParser) -> None:
    """What every cohort command takes: the measures and their options, the Dask engine, --dry-run."""
    p.add_argument(
        "--measures",
        default="alps,epvs,vein",
        help="comma-separated measures to run on each subject (default %(default)s)",
    )
    for measure in ("alps", "epvs", "vein"):
        p.add_argument(
            f"--{measure}-options",
            metavar="OPTIONS",
            help=f'options of `glymph {measure}` for every subject, in one quoted string (e.g. "--frame anatomical")',
        )
    p.add_argument(
        "--alps-from",
        metavar="DIR",
        help="reanalyse the ALPS folders of an earlier run's OUT_DIR (`glymph alps reanalyze`: no fitting or "
        'registering; --alps-options then takes its options, e.g. "--roi-diameter 3 5 7 --frame anatomical")',
    )
    engine = p.add_argument_group("Dask engine")
    engine.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core)")
    engine.add_argument("--memory-limit", default="4GB", help="memory per worker (default %(default)s)")
    engine.add_argument(
        "--threads-per-task",
        type=int,
        default=1,
        metavar="N",
        help="CPU threads of each subject's process (default %(default)s: one worker per core, side by side)",
    )
    engine.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    engine.add_argument(
        "--cluster", choices=("slurm", "pbs", "sge", "lsf"), help="a batch system, through dask-jobqueue"
    )
    engine.add_argument("--jobs", type=int, default=1, help="batch jobs (workers) with --cluster (default %(default)s)")
    engine.add_argument("--queue", help="batch queue with --cluster")
    engine.add_argument("--walltime", help="batch job time limit with --cluster (e.g. 04:00:00)")
    p.add_argument("--dry-run", action="store_true", help="list what would run and what would be skipped, run nothing")


def _add_bids(subcommands) -> None:
    p = subcommands.add_parser(
        "bids",
        help="a BIDS dataset through the measures on Dask (a BIDS App)",
        description="Run glymph's measures on every subject of a BIDS dataset (BIDS-Apps conventions) with Dask; "
        "results as a BIDS derivatives dataset. Failed subjects are listed in OUT_DIR/failed.csv (exit status 1); "
        "a rerun keeps what is complete. The group stage merges the per-subject tables.",
    )
    p.add_argument("bids_dir", metavar="BIDS_DIR", help="the BIDS dataset")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the derivatives folder to write")
    p.add_argument("analysis_level", choices=("participant", "group"), help="participant: run; group: merge the tables")
    p.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these participants (without sub-)")
    p.add_argument("--session-label", nargs="+", metavar="LABEL", help="only these sessions (without ses-)")
    _add_cohort_arguments(p)


def _add_cohort(subcommands) -> None:
    p = subcommands.add_parser(
        "cohort",
        help="subjects listed in a CSV through the measures on Dask",
        description="Like `glymph bids`, for data that is not BIDS: LIST.csv has a 'subject' column and any of "
        "dwi, bval, bvec, t1w, t2w, swi (paths, relative to the CSV's folder or absolute).",
    )
    p.add_argument("subject_list", metavar="LIST.csv", help="one row per subject")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the results folder")
    _add_cohort_arguments(p)


def _add_demo(subcommands) -> None:
    p = subcommands.add_parser(
        "demo",
        help="compute ALPS on a phantom and write the results",
        description="Build a DWI phantom on MNI152 anatomy with a known ALPS index and run 'glymph alps' on it.",
    )
    p.add_argument("--out", default="demo-output", help="folder for the phantom and the results (default %(default)s)")

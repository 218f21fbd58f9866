"""The ``glymph`` commands, one function each, called with the parsed arguments. Heavy packages
are imported inside them, so building the parser stays fast."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from glymph.errors import GlymphError

log = logging.getLogger("glymph")


def _read_dwi_ahead(args: argparse.Namespace) -> None:
    """Start decompressing the DWI on a thread and meanwhile import what reading, masking and
    fitting it need (nibabel, scipy.ndimage, scikit-image's filters: about as long as decompressing
    a 100 MB .nii.gz takes)."""
    from glymph.prefetch import read_ahead

    read_ahead(args.dwi)
    import nibabel  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import skimage.filters  # noqa: F401


def run_dti(args: argparse.Namespace) -> None:
    _read_dwi_ahead(args)
    from glymph.cli.requests import (
        describe_dwi_inputs,
        preprocessing_options,
        preprocessing_parameters,
        read_dti_request,
    )
    from glymph.dti import fit_dti, write_dti

    started = time.perf_counter()
    inputs = describe_dwi_inputs(args)  # checksums, on a thread: started first, they overlap the reading
    dwi, mask = read_dti_request(args)
    dti = fit_dti(
        dwi,
        mask,
        args.max_b,
        mask_source=args.mask,
        preprocessing=preprocessing_options(args),
        gradient_check=args.gradient_check,
    )
    parameters = {"max_b": args.max_b, "b0_threshold": args.b0_threshold, **preprocessing_parameters(args)}
    write_dti(dti, args.out, inputs=inputs.result(), parameters=parameters, started=started, force=args.force)
    log.info("wrote %s", args.out)


def run_alps(args: argparse.Namespace) -> None:
    _read_dwi_ahead(args)
    from glymph.alps import run_alps as compute
    from glymph.alps.pipeline import sensitivity_diameters
    from glymph.cli.requests import (
        alps_roi_set,
        alps_subject,
        describe_dwi_inputs,
        finish_alps,
        preprocessing_options,
        read_alps_request,
    )
    from glymph.plotting import pyplot

    started = time.perf_counter()
    inputs = describe_dwi_inputs(args)  # checksums, on a thread: started first, they overlap the reading
    dwi, mask, rois = read_alps_request(args)
    result = compute(
        dwi,
        mask=mask,
        roi_set=alps_roi_set(args),
        rois=rois,
        roi_diameter_mm=args.roi_diameters[0],
        roi_min_fa=args.roi_min_fa,
        sensitivity_mm=sensitivity_diameters(args.roi_diameters),
        preprocessing=preprocessing_options(args),
        gradient_check=args.gradient_check,
        frame=args.frame,
        contrast=args.registration_contrast,
        max_b=args.max_b,
        subject=alps_subject(args),
        mask_source=args.mask,
        placement=args.placement,
        model_dir=args.model_dir,
        device=args.device,
        threads=args.threads,
        on_fitted=pyplot,  # matplotlib, for the QC picture, loads beside the registration
    )
    finish_alps(args, result, started, inputs)


def run_alps_reanalyze(args: argparse.Namespace) -> None:
    from glymph.alps.files import ALPS_FILES, SAVED_FOR_REANALYSIS, read_alps_folder, write_alps
    from glymph.alps.markups import read_markups
    from glymph.alps.pipeline import sensitivity_diameters
    from glymph.alps.reanalysis import reanalyze
    from glymph.cli.requests import check_roi_measures
    from glymph.outputs import check_out_dir, describe_inputs

    started = time.perf_counter()
    out = args.out or args.folder
    check_out_dir(out, ALPS_FILES, args.force)
    check_roi_measures(args)
    saved = read_alps_folder(args.folder)
    diameter = args.roi_diameters[0] if args.roi_diameters else None
    rois = read_markups(args.rois, diameter or saved.rois.diameter_mm) if args.rois else None
    result = reanalyze(
        saved,
        rois=rois,
        roi_set=args.roi_set,
        roi_diameter_mm=diameter,
        frame=args.frame,
        min_fa=args.roi_min_fa,
        sensitivity_mm=sensitivity_diameters(args.roi_diameters or ()),
        subject=args.subject,
    )
    folder = Path(args.folder)
    inputs = describe_inputs({name: folder / name for name in SAVED_FOR_REANALYSIS} | {"rois": args.rois})
    parameters = {
        "reanalysis_of": str(folder.resolve()),
        "rois": "markups" if args.rois else args.roi_set or "as saved",
        "roi_diameter_mm": result.rois.diameter_mm,
        "sensitivity_diameters_mm": [row["diameter_mm"] for row in result.sensitivity],
        "roi_min_fa": result.min_fa,
        "frame": result.frame,
    }
    # the fit and the original run's inputs and parameters stay on record
    previous = saved.sidecar
    extra = {
        "dti": previous.get("dti"),
        "original_run": {k: previous.get(k) for k in ("inputs", "parameters", "created")},
    }
    write_alps(result, out, inputs=inputs, parameters=parameters, started=started, force=args.force, extra=extra)
    index = result.index
    print(
        f"{result.subject}: ALPS left {index.alps_L:.4f}  right {index.alps_R:.4f}  mean {index.alps:.4f}  "
        f"({index.frame} frame, reanalysed) -> {out}"
    )


def run_epvs(args: argparse.Namespace) -> None:
    from glymph.cli.requests import finish_epvs, read_epvs_request
    from glymph.epvs import run_epvs as compute

    started = time.perf_counter()
    t1, t2, mask, subject = read_epvs_request(args)
    if args.threads is not None and mask is None:  # deepbet (PyTorch) extracts the brain
        from glymph.models.loader import limit_threads

        limit_threads(args.threads)
    result = compute(
        t1,
        t2,
        mask,
        args.method,
        args.min_length_mm,
        subject,
        args.model_dir,
        args.device,
        args.contrast,
        args.threads,
        args.flips,
    )
    finish_epvs(args, result, started)


def run_vein(args: argparse.Namespace) -> None:
    from glymph.cli.requests import finish_vein, read_vein_request
    from glymph.vein import run_vein as compute

    started = time.perf_counter()
    swi, mask, subject = read_vein_request(args)
    result = compute(
        swi, mask, args.slab_mm, args.slab_center_mm, args.method, subject, args.model_dir, args.device, args.threads,
        args.flips,
    )  # fmt: skip
    finish_vein(args, result, started)


def run_import_labelme(args: argparse.Namespace) -> None:
    import numpy as np

    from glymph.image_io import read_volume, write_nifti
    from glymph.outputs import atomic_out_dir
    from glymph.vein.labelme import labelme_to_labels

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


def run_evaluate(args: argparse.Namespace) -> None:
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


def run_models(args: argparse.Namespace) -> None:
    """``glymph models list | info ID | verify [ID ...]``."""
    from glymph.models.loader import locate, trained_files, trained_folder, verify
    from glymph.models.registry import MODELS, get_model

    if args.action == "list":
        for model in MODELS.values():
            print(
                f"{model.id} {model.version}: {model.task}; {model.framework}, {len(model.files)} file(s); {model.licence}"
            )
        return
    if args.action == "info":
        if len(args.ids) != 1:
            raise GlymphError("glymph models info takes one model id (see glymph models list)")
        model = get_model(args.ids[0])
        for key, value in model.describe().items():
            if key == "files":
                for file in model.files:
                    try:
                        where = str(locate(model, file, args.model_dir))
                    except GlymphError as missing:
                        where = str(missing)
                    print(f"file: {file.name}  sha256 {file.sha256}  at {where}")
            elif isinstance(value, dict):
                for name, item in value.items():
                    print(f"{key}.{name}: {item}")
            else:
                print(f"{key}: {value}")
        return
    problems = []
    for model in [get_model(model_id) for model_id in args.ids] or list(MODELS.values()):
        # a folder from `glymph train` (found first, as when loading) is checked against its model.json
        folder = trained_folder(model, args.model_dir) if model.training.startswith("glymph train") else None
        if folder is None and not model.shipped:
            print(f"--  {model.id} {model.version}: not shipped with glymph; make it with `{model.training}`")
            continue
        if folder is not None:
            try:
                for name, path in trained_files(model, folder).items():
                    print(f"ok  {model.id} {name}  {path}")
            except GlymphError as problem:
                print(f"BAD {model.id}: {problem}")
                problems.append(model.id)
            continue
        for file in model.files:
            try:
                path = locate(model, file, args.model_dir)
                verify(model, file, path)
                print(f"ok  {model.id} {file.name}  {path}")
            except GlymphError as problem:
                print(f"BAD {model.id} {file.name}: {problem}")
                problems.append(f"{model.id} {file.name}")
    if problems:
        raise GlymphError(f"{len(problems)} model file(s) missing or damaged: {', '.join(problems)} (see above)")


def train_vein_command(args: argparse.Namespace, out: Path) -> dict:
    """``glymph train vein``: from scratch, or fine-tuned on ``--labelme`` annotations."""
    from glymph.training import vein

    if args.labelme is None:
        if args.images is not None:
            raise GlymphError("--images goes with --labelme (the MinIPs the annotations were drawn on)")
        plan = vein.TrainingPlan(
            args.minips,
            args.validation_minips,
            3000 if args.steps is None else args.steps,
            seed=args.seed,
            workers=args.workers,
        )
        if min(plan.minips, plan.validation_minips, plan.steps) < 1:
            raise GlymphError("--minips, --validation-minips and --steps must be at least 1")
        return vein.train_vein(out, plan)
    if args.images is None:
        raise GlymphError("--labelme needs --images: the folder of the annotated subjects' MinIPs")
    if not 0 < args.validation_fraction < 1:
        raise GlymphError("--validation-fraction must be between 0 and 1")
    plan = vein.FinetunePlan(
        300 if args.steps is None else args.steps, validation_fraction=args.validation_fraction, seed=args.seed
    )
    if plan.steps < 1:
        raise GlymphError("--steps must be at least 1")
    return vein.finetune_vein(out, args.labelme, args.images, args.init, plan, args.model_dir)


def run_train(args: argparse.Namespace) -> None:
    """``glymph train roi-detector|epvs|vein --out DIR ...``."""
    out = Path(args.out)
    if (out / "model.json").exists() and not args.force:
        raise GlymphError(f"{out} already holds a model; use --force to replace it, or choose another --out")
    if args.network == "vein":
        print(json.dumps(train_vein_command(args, out), indent=2))
        return
    if args.network == "epvs":
        from glymph.training.epvs import TrainingPlan as EPVSPlan
        from glymph.training.epvs import train_epvs

        if min(args.patches, args.validation_patches, args.epochs) < 1:
            raise GlymphError("--patches, --validation-patches and --epochs must be at least 1")
        plan = EPVSPlan(args.patches, args.validation_patches, args.epochs, seed=args.seed, workers=args.workers)
        print(json.dumps(train_epvs(out, plan), indent=2))
        return
    from glymph.training.roi_detector import TrainingPlan, train_roi_detector

    if min(args.subjects, args.validation_subjects, args.level_epochs, args.yolo_epochs) < 1:
        raise GlymphError("--subjects, --validation-subjects, --level-epochs and --yolo-epochs must be at least 1")
    plan = TrainingPlan(
        args.subjects,
        args.validation_subjects,
        args.level_epochs,
        args.yolo_epochs,
        seed=args.seed,
        workers=args.workers,
    )
    metrics = train_roi_detector(out, plan)
    print(json.dumps(metrics, indent=2))


def run_demo(args: argparse.Namespace) -> None:
    from glymph.cli.parser import build_parser
    from glymph.phantoms import HeadPose, alps_phantom, write_fsl

    out = Path(args.out)
    (out / "phantom").mkdir(parents=True, exist_ok=True)
    pose = HeadPose(tilt_deg=(8.0, -6.0, 4.0), shift_mm=(4.0, -6.0, 10.0), scale=1.05)
    log.info("building a DWI phantom on MNI152 anatomy (true ALPS: left 1.30, right 1.60; head tilted)")
    phantom = alps_phantom(alps_left=1.3, alps_right=1.6, pose=pose, snr=30.0, seed=7)
    dwi_path, _, _ = write_fsl(phantom.dwi, str(out / "phantom" / "dwi.nii.gz"), storage="LAS")
    argv = ["alps", dwi_path, "--out", str(out), "--subject", "phantom", "--frame", "anatomical", "--force"]
    log.info("running: glymph %s", " ".join(argv))
    run_alps(build_parser().parse_args(argv))
    print(
        f"truth:   ALPS left {phantom.alps_left:.4f}  right {phantom.alps_right:.4f}  mean {phantom.alps:.4f}; QC picture: {out / 'qc_alps.png'}"
    )


def parse_options(measure: str, text: str | None, reanalysis: bool = False) -> tuple[str, ...]:
    """A measure's options given as one string (``--alps-options "--frame anatomical"``), checked
    against the measure's own parser (``glymph alps reanalyze``'s with ``reanalysis``) before any work."""
    import shlex

    from glymph.cli.parser import build_parser
    from glymph.cohort import RESERVED

    options = tuple(shlex.split(text or ""))
    reserved = [o for o in options if o.split("=")[0] in RESERVED]
    if reserved:
        raise GlymphError(f"--{measure}-options: {', '.join(reserved)} is set by the cohort runner; leave it out")
    command = [f"{measure}-reanalyze", "folder"] if reanalysis else [measure, "input.nii.gz"]
    try:
        build_parser().parse_args([*command, "--out", "out", *options])
    except SystemExit:
        name = f"{measure} reanalyze" if reanalysis else measure
        raise GlymphError(
            f"--{measure}-options '{text}' are not options of `glymph {name}` (see glymph {name} --help)"
        ) from None
    return options


def _cohort_plan(args: argparse.Namespace):
    from glymph.cohort import MEASURES, CohortPlan

    measures = tuple(m.strip() for m in args.measures.split(",") if m.strip())
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise GlymphError(f"--measures: unknown {', '.join(unknown) or 'nothing'}; choose from {', '.join(MEASURES)}")
    if args.workers is not None and args.workers < 1:
        raise GlymphError("--workers must be >= 1")
    if args.threads_per_task < 1:
        raise GlymphError("--threads-per-task must be >= 1")
    alps_from = Path(args.alps_from) if args.alps_from else None
    if alps_from is not None and not alps_from.is_dir():
        raise GlymphError(f"--alps-from {alps_from} is not a folder (give the OUT_DIR of an earlier run)")
    if alps_from is not None and "alps" not in measures:
        raise GlymphError("--alps-from reanalyses ALPS results; add alps to --measures")
    options = {
        m: parse_options(m, getattr(args, f"{m}_options"), m == "alps" and alps_from is not None) for m in measures
    }
    return CohortPlan(
        measures,
        options,
        args.scheduler,
        args.workers,
        args.memory_limit,
        args.cluster,
        args.jobs,
        args.queue,
        args.walltime,
        args.threads_per_task,
        alps_from,
    )


def cohort_request(args: argparse.Namespace):
    """``glymph bids`` / ``glymph cohort`` arguments checked: (subjects, output folder, plan, source)."""
    from glymph.cohort import discover_bids, read_subject_list

    plan = _cohort_plan(args)
    out_dir = Path(args.out_dir)
    if args.command == "cohort":
        return read_subject_list(args.subject_list), out_dir, plan, args.subject_list
    if Path(args.bids_dir).resolve() == out_dir.resolve():
        raise GlymphError("OUT_DIR must not be the BIDS dataset itself (use e.g. BIDS_DIR/derivatives/glymph)")
    return discover_bids(args.bids_dir, args.participant_label, args.session_label), out_dir, plan, args.bids_dir


def run_group_stage(subjects, out_dir: Path, plan) -> int:
    """The group level of ``glymph bids``: the merged tables and the report from finished subjects."""
    from glymph.cohort import build_tasks, group_stage

    if not out_dir.is_dir():
        raise GlymphError(f"{out_dir} does not exist: run the participant stage first")
    tasks, _ = build_tasks(subjects, plan.measures, plan.options, out_dir, plan.alps_from)
    merged = group_stage(out_dir, tasks)
    tables = ", ".join(f"{n} ({r} rows)" for n, r in merged.items()) or "no complete subjects"
    print(f"glymph bids group: {tables}; report: {out_dir / 'report.html'}")
    return 0


def run_cohort(args: argparse.Namespace, execute=None) -> int:
    """``glymph bids`` and ``glymph cohort``; ``execute`` runs the tasks (default: Dask)."""
    from glymph.cohort import run_cohort as run

    subjects, out_dir, plan, source = cohort_request(args)
    if getattr(args, "analysis_level", "participant") == "group":
        return run_group_stage(subjects, out_dir, plan)
    return run(subjects, out_dir, plan, source, args.dry_run, execute)


COMMANDS = {
    "alps": run_alps,
    "dti": run_dti,
    "epvs": run_epvs,
    "vein": run_vein,
    "vein-import-labelme": run_import_labelme,
    "alps-reanalyze": run_alps_reanalyze,
    "evaluate": run_evaluate,
    "models": run_models,
    "train": run_train,
    "bids": run_cohort,
    "cohort": run_cohort,
    "demo": run_demo,
}

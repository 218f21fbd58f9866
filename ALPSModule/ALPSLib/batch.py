"""What a headless run does on MRML nodes: the inputs of `glymph alps` read into nodes, the
module logic run on them (``work``). The batch script and the cohort runner in Slicer call it."""

from __future__ import annotations


def work(args, scene):
    """The DWI, mask and ROI markups as nodes, through the module logic: the ALPS result."""
    from ALPSLib import AlpsNodeLogic, AlpsOptions
    from glymph.cli.requests import alps_roi_set, alps_subject, read_alps_request
    from glymph_mrml import dwi_to_node, mask_to_node, rois_to_markups_node

    dwi, mask, rois = read_alps_request(args)
    subject = alps_subject(args)
    dwi_node = dwi_to_node(dwi, scene, subject)
    mask_node = mask_to_node(mask, scene, f"{subject} mask") if mask is not None else None
    markups_node = rois_to_markups_node(rois, scene, f"{subject} ROIs") if rois else None
    options = AlpsOptions(
        roi_set=alps_roi_set(args),
        roi_diameter_mm=args.roi_diameters[0],
        other_diameters_mm=tuple(args.roi_diameters[1:]),
        roi_min_fa=args.roi_min_fa,
        denoise=args.denoise,
        unring=args.unring,
        motion_correct=args.motion_correct,
        gradient_check=args.gradient_check,
        frame=args.frame,
        placement="markups" if rois else args.placement,
        model_dir=args.model_dir,
        registration_contrast=args.registration_contrast,
        max_b=args.max_b,
        subject=subject,
    )
    result, _ = AlpsNodeLogic(scene).run(dwi_node, options, mask_node, markups_node)
    return result

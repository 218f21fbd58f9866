"""What a headless run does on MRML nodes: the inputs of `glymph epvs` read into nodes, the
module logic run on them (``work``). The batch script and the cohort runner in Slicer call it."""

from __future__ import annotations


def work(args, scene):
    """The T1, T2 and mask as nodes, through the module logic: the EPVS result."""
    from EPVSLib import EpvsNodeLogic, EpvsOptions
    from glymph.cli.requests import read_epvs_request
    from glymph_mrml import mask_to_node, volume_to_node

    t1, t2, mask, subject = read_epvs_request(args)
    t1_node = volume_to_node(t1, scene, subject)
    t2_node = volume_to_node(t2, scene, f"{subject} T2") if t2 is not None else None
    mask_node = mask_to_node(mask, scene, f"{subject} mask") if mask is not None else None
    options = EpvsOptions(
        method=args.method,
        min_length_mm=args.min_length_mm,
        subject=subject,
        model_dir=args.model_dir,
        device=args.device,
        contrast=args.contrast,
        flips=args.flips,
    )
    result, _ = EpvsNodeLogic(scene).run(t1_node, options, t2_node, mask_node)
    return result

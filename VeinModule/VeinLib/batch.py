"""What a headless run does on MRML nodes: the inputs of `glymph vein` read into nodes, the
module logic run on them (``work``). The batch script and the cohort runner in Slicer call it."""

from __future__ import annotations


def work(args, scene):
    """The SWI and mask as nodes, through the module logic: the vein result."""
    from glymph.cli.requests import read_vein_request
    from glymph_mrml import mask_to_node, volume_to_node
    from VeinLib import VeinNodeLogic, VeinOptions

    swi, mask, subject = read_vein_request(args)
    swi_node = volume_to_node(swi, scene, subject)
    mask_node = mask_to_node(mask, scene, f"{subject} mask") if mask is not None else None
    options = VeinOptions(
        slab_mm=args.slab_mm,
        slab_center_mm=args.slab_center_mm,
        method=args.method,
        subject=subject,
        model_dir=args.model_dir,
        device=args.device,
        flips=args.flips,
    )
    result, _ = VeinNodeLogic(scene).run(swi_node, options, mask_node)
    return result

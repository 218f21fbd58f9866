"""Label maps to and from segmentation nodes (one segment per label value)."""

from __future__ import annotations

import numpy as np
import vtk

from glymph.errors import GlymphError
from glymph.volume import Volume
from glymph_mrml.volumes import volume_from_node, volume_to_node


def labelmap_to_segmentation(
    labels: Volume,
    names: dict[int, str],
    scene,
    name: str,
    colours: dict[int, tuple[float, float, float]] | None = None,
    node=None,
):
    """A segmentation node with one segment per label value in ``names`` (segment name = the value's name).

    Uses Slicer's segmentations logic to import a temporary label map node, as the Segment Editor does.
    """
    import slicer

    data = np.asarray(labels.data)
    unknown = sorted(set(np.unique(data).tolist()) - {0} - set(names))
    if unknown:
        raise GlymphError(f"label values {unknown} have no segment name")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.GetSegmentation().RemoveAllSegments()
    labelmap = volume_to_node(
        Volume(data.astype(np.int16), labels.affine), scene, f"{name} labels", class_name="vtkMRMLLabelMapVolumeNode"
    )
    try:
        segmentation = node.GetSegmentation()
        for value, segment_name in sorted(names.items()):
            single = volume_to_node(
                Volume((data == value).astype(np.int16) * value, labels.affine), scene, segment_name, labelmap
            )
            before = segmentation.GetNumberOfSegments()
            if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(single, node):
                raise GlymphError(f"could not import label {value} into segmentation '{name}'")
            if segmentation.GetNumberOfSegments() == before:  # an empty label: keep an empty, named segment
                segmentation.AddEmptySegment(segment_name, segment_name)
            segment = segmentation.GetNthSegment(segmentation.GetNumberOfSegments() - 1)
            segment.SetName(segment_name)
            if colours and value in colours:
                segment.SetColor(*colours[value])
    finally:
        scene.RemoveNode(labelmap)
    return node


def segmentation_to_labelmap(node, reference: Volume, names: list[str]) -> Volume:
    """A label map on ``reference``'s grid: value n+1 for the segment called ``names[n]``."""
    import slicer

    scene = node.GetScene()
    segmentation = node.GetSegmentation()
    output = np.zeros(reference.shape, dtype=np.uint8)
    labelmap = volume_to_node(
        Volume(output.astype(np.int16), reference.affine),
        scene,
        "glymph export",
        class_name="vtkMRMLLabelMapVolumeNode",
    )
    try:
        for value, segment_name in enumerate(names, start=1):
            segment_id = segmentation.GetSegmentIdBySegmentName(segment_name)
            if not segment_id:
                raise GlymphError(f"segmentation '{node.GetName()}' has no segment '{segment_name}'")
            ids = vtk.vtkStringArray()
            ids.InsertNextValue(segment_id)
            if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(node, ids, labelmap, labelmap):
                raise GlymphError(f"could not export segment '{segment_name}'")
            output[volume_from_node(labelmap).data > 0] = value
    finally:
        scene.RemoveNode(labelmap)
    return Volume(output, reference.affine)

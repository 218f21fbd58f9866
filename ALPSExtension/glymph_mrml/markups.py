"""ALPS ROI centres to and from markups point-list nodes, drawn as spheres of the ROI diameter."""

from __future__ import annotations

import numpy as np

from glymph.alps.rois import LABELS, RoiSet
from glymph.defaults import ROI_DIAMETER_MM
from glymph.errors import GlymphError
from glymph_mrml.volumes import check_untransformed


def rois_to_markups_node(rois: RoiSet, scene, name: str, node=None):
    """Write the four ROI centres (RAS) into a point-list node, labelled and shown as spheres."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.RemoveAllControlPoints()
    for label in LABELS:
        node.AddControlPoint(*rois.centres[label], label)
    node.SetFixedNumberOfControlPoints(True)
    node.SetAttribute("glymph.roi_diameter_mm", f"{rois.diameter_mm:g}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetGlyphTypeFromString("Sphere3D")
    display.SetUseGlyphScale(False)
    display.SetGlyphSize(rois.diameter_mm)
    display.SetPointLabelsVisibility(True)
    return node


def rois_from_markups_node(node, diameter_mm: float | None = None) -> RoiSet:
    """The four labelled ROI centres (RAS mm) of a point-list node.

    The diameter is ``diameter_mm`` if given, else the one stored on the node by
    ``rois_to_markups_node``, else the default (``glymph.defaults.ROI_DIAMETER_MM``).
    """
    if node is None or not node.IsA("vtkMRMLMarkupsNode"):
        raise GlymphError("expected a markups point list holding the ROIs")
    check_untransformed(node, "markups")
    points: dict[str, list[tuple[float, float, float]]] = {}
    for n in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(n) != node.PositionDefined:
            continue
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(n, position)
        points.setdefault(node.GetNthControlPointLabel(n), []).append(tuple(position))
    missing = [label for label in LABELS if label not in points]
    if missing:
        raise GlymphError(
            f"markups '{node.GetName()}' lacks the point(s) {', '.join(missing)}; label the four ROI points {', '.join(LABELS)}"
        )
    repeated = [label for label in LABELS if len(points[label]) > 1]
    if repeated:
        raise GlymphError(f"markups '{node.GetName()}' has more than one point labelled {', '.join(repeated)}")
    if diameter_mm is None:
        stored = node.GetAttribute("glymph.roi_diameter_mm")
        diameter_mm = float(stored) if stored else ROI_DIAMETER_MM
    centres = {label: tuple(float(v) for v in np.asarray(points[label][0])) for label in LABELS}
    return RoiSet(centres, diameter_mm, "subject", "manual")

"""Slicer markups JSON (``.mrk.json``) for the ALPS ROI centres.

Files are written the way Slicer writes a point list (schema v1.0.3, LPS coordinates), with the
points drawn as spheres of the ROI diameter, so a user can open ``rois.mrk.json`` in Slicer, move
a point and pass the file back with ``--rois``. Reading accepts LPS or RAS files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from glymph.alps.rois import LABELS, RoiSet
from glymph.errors import GlymphError
from glymph.image_io import existing_file

log = logging.getLogger("glymph")
SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"
_DESCRIPTIONS = {
    "proj_L": "ALPS ROI: projection fibres, left",
    "proj_R": "ALPS ROI: projection fibres, right",
    "assoc_L": "ALPS ROI: association fibres, left",
    "assoc_R": "ALPS ROI: association fibres, right",
}


def markups_document(rois: RoiSet) -> dict:
    """The markups JSON document (LPS) for an ROI set in subject space."""
    points = []
    for number, label in enumerate(LABELS, start=1):
        x, y, z = rois.centres[label]
        points.append(
            {
                "id": str(number),
                "label": label,
                "description": _DESCRIPTIONS[label],
                "associatedNodeID": "",
                "position": [-x, -y, z],
                "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
                "selected": True,
                "locked": False,
                "visibility": True,
                "positionStatus": "defined",
            }
        )
    return {
        "@schema": SCHEMA,
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": False,
                "fixedNumberOfControlPoints": True,
                "labelFormat": "%N-%d",
                "lastUsedControlPointNumber": len(LABELS),
                "controlPoints": points,
                "measurements": [],
                "display": {
                    "visibility": True,
                    "opacity": 1.0,
                    "color": [1.0, 1.0, 0.0],
                    "selectedColor": [1.0, 1.0, 0.0],
                    "propertiesLabelVisibility": False,
                    "pointLabelsVisibility": True,
                    "textScale": 2.0,
                    "glyphType": "Sphere3D",
                    "glyphSize": rois.diameter_mm,
                    "useGlyphScale": False,
                },
            }
        ],
    }


def write_markups(rois: RoiSet, path: str | os.PathLike) -> None:
    """Write subject-space ROI centres as a Slicer point list. Not atomic on its own."""
    Path(path).write_text(json.dumps(markups_document(rois), indent=4))


def read_markups(path: str | os.PathLike, diameter_mm: float) -> RoiSet:
    """Read the four labelled ROI centres (RAS mm) from a Slicer ``.mrk.json`` point list."""
    p = existing_file(path, "ROI markups file")
    try:
        document = json.loads(p.read_text())
        markups = document["markups"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise GlymphError(f"{p} is not a Slicer markups JSON file (.mrk.json)") from None
    points: dict[str, list[np.ndarray]] = {}
    for markup in markups:
        system = str(markup.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise GlymphError(f"{p}: unsupported coordinate system '{system}' (expected LPS or RAS)")
        flip = np.array([-1.0, -1.0, 1.0]) if system == "LPS" else np.ones(3)
        for point in markup.get("controlPoints", []):
            if point.get("positionStatus", "defined") != "defined" or "position" not in point:
                continue
            position = np.asarray(point["position"], dtype=np.float64)
            if position.shape != (3,) or not np.all(np.isfinite(position)):
                raise GlymphError(f"{p}: point '{point.get('label')}' has an invalid position")
            points.setdefault(str(point.get("label", "")), []).append(position * flip)
    missing = [label for label in LABELS if label not in points]
    if missing:
        raise GlymphError(f"{p} lacks the point(s) {', '.join(missing)}; label the four ROI points {', '.join(LABELS)}")
    repeated = [label for label in LABELS if len(points[label]) > 1]
    if repeated:
        raise GlymphError(f"{p} has more than one point labelled {', '.join(repeated)}; keep one of each")
    extra = sorted(set(points) - set(LABELS))
    if extra:
        log.warning("%s: ignoring points not used by ALPS: %s", p, ", ".join(extra))
    centres = {label: tuple(float(v) for v in points[label][0]) for label in LABELS}
    return RoiSet(centres, diameter_mm, "subject", "manual")

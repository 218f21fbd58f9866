"""Superficial cerebral veins on SWI: MinIP, mid-line, segmentation methods, morphometry, Labelme
annotations, result files and QC picture.

``minip`` (axial reslicing, slab, analysis level, ``analysis_plane``), ``midline`` (left-right
symmetry), ``segmentation`` (the methods), ``morphometry`` (skeleton, length, tortuosity,
diameter), ``labelme`` (annotations to label maps), ``pipeline`` (``run_vein`` -> ``VeinResult``),
``files`` (``write_vein``, ``read_vein``) and ``qc`` (the picture).
"""

from glymph.vein.files import VEIN_FILES, read_vein, write_vein
from glymph.vein.labelme import labelme_to_labels
from glymph.vein.pipeline import VeinResult, run_vein

__all__ = ["VEIN_FILES", "VeinResult", "labelme_to_labels", "read_vein", "run_vein", "write_vein"]

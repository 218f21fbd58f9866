"""The DTI-ALPS index: ROI sets and spheres, markups, the index, the pipeline, result files, QC picture.

``rois`` (``RoiSet``, sphere masks), ``markups`` (Slicer ``.mrk.json``), ``index`` (the formula,
``alps_index``), ``pipeline`` (``run_alps``, ``alps_from_dti``, ``alps_from_rois`` -> ``AlpsResult``),
``files`` (``write_alps``, ``read_alps``) and ``qc`` (the picture).
"""

from glymph.alps.files import ALPS_FILES, read_alps, write_alps
from glymph.alps.index import AlpsIndex, alps_index
from glymph.alps.markups import read_markups, write_markups
from glymph.alps.pipeline import AlpsResult, alps_from_dti, alps_from_rois, run_alps
from glymph.alps.rois import LABELS, RoiSet, builtin_roi_set

__all__ = [
    "ALPS_FILES",
    "LABELS",
    "AlpsIndex",
    "AlpsResult",
    "RoiSet",
    "alps_from_dti",
    "alps_from_rois",
    "alps_index",
    "builtin_roi_set",
    "read_alps",
    "read_markups",
    "run_alps",
    "write_alps",
    "write_markups",
]

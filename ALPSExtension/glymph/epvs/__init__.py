"""Enlarged perivascular spaces: preprocessing, regions, segmentation methods, lesions, result files, QC.

``preprocess`` (``prepare``: brain mask, N4, 1 mm grid, T2, regions, tissues, shared by every
method), ``regions`` (basal ganglia, centrum semiovale, midbrain from MNI152), ``segmentation``
(the methods), ``lesions`` (components and their measures), ``pipeline`` (``run_epvs`` ->
``EPVSResult``), ``files`` (``write_epvs``, ``read_epvs``) and ``qc`` (the picture).
"""

from glymph.epvs.files import EPVS_FILES, EPVSFolder, read_epvs, write_epvs
from glymph.epvs.pipeline import EPVSResult, run_epvs
from glymph.epvs.preprocess import Prepared, prepare

__all__ = ["EPVS_FILES", "EPVSFolder", "EPVSResult", "Prepared", "prepare", "read_epvs", "run_epvs", "write_epvs"]

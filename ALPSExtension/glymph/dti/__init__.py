"""Diffusion tensors: DWI reading with gradients in the RAS world frame, the tensor model and fit,
and the tensor result folder.

``dwi`` (``DWI``, ``read_dwi``), ``gradients`` (FSL bval/bvec and their conversion), ``tensor``
(``TensorModel`` -> ``TensorFit``, plain arrays, like dipy), ``pipeline`` (``fit_dti`` -> ``DTIResult``)
and ``files`` (``write_dti``).
"""

from glymph.dti.dwi import DWI, read_dwi
from glymph.dti.files import DTI_FILES, write_dti
from glymph.dti.pipeline import DTIResult, fit_dti
from glymph.dti.tensor import TensorFit, TensorModel

__all__ = ["DTI_FILES", "DWI", "DTIResult", "TensorFit", "TensorModel", "fit_dti", "read_dwi", "write_dti"]

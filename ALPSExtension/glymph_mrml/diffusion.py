"""DWI and DTI volume nodes to and from glymph objects.

Gradients of a ``vtkMRMLDiffusionWeightedVolumeNode`` and tensors of a
``vtkMRMLDiffusionTensorVolumeNode`` are expressed in the node's measurement frame; the
measurement-frame matrix maps them to RAS: g_RAS = M g, D_RAS = M D M^T. Nodes written here hold
RAS gradients and tensors with an identity measurement frame.
"""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

from glymph.defaults import B0_THRESHOLD
from glymph.dti.dwi import DWI, check_signal
from glymph.dti.gradients import check_gradients
from glymph.dti.tensor import from_matrix, to_matrix
from glymph.errors import GlymphError
from glymph.volume import Volume
from glymph_mrml.volumes import (
    array_to_image,
    check_untransformed,
    ijk_to_ras,
    image_to_array,
    matrix_to_numpy,
    numpy_to_matrix,
)


def measurement_frame(node) -> np.ndarray:
    """3x3 measurement-frame-to-RAS matrix of a DWI or DTI node."""
    matrix = vtk.vtkMatrix4x4()
    node.GetMeasurementFrameMatrix(matrix)
    return matrix_to_numpy(matrix)[:3, :3]


def dwi_from_node(node, b0_threshold: float = B0_THRESHOLD) -> DWI:
    """A glymph DWI from a diffusion-weighted volume node (gradients converted to RAS)."""
    if node is None or not node.IsA("vtkMRMLDiffusionWeightedVolumeNode"):
        raise GlymphError("expected a diffusion-weighted volume node (load the DWI as 'Diffusion-weighted volume')")
    check_untransformed(node, "DWI")
    data = image_to_array(node.GetImageData()).astype(np.float32)
    if data.ndim != 4:
        raise GlymphError(f"DWI '{node.GetName()}' has a single component; a DWI needs one per gradient")
    n = node.GetNumberOfGradients()
    if n != data.shape[3]:
        raise GlymphError(f"DWI '{node.GetName()}' has {n} gradients for {data.shape[3]} volumes")
    gradients = numpy_support.vtk_to_numpy(node.GetDiffusionGradients()).reshape(n, 3).astype(np.float64)
    bvals = numpy_support.vtk_to_numpy(node.GetBValues()).astype(np.float64).reshape(n)
    source = f"DWI node '{node.GetName()}'"
    check_signal(data, source)
    norms = np.linalg.norm(gradients, axis=1, keepdims=True)
    unit = np.divide(gradients, norms, out=np.zeros_like(gradients), where=norms > 0)
    directions = check_gradients(bvals, unit, b0_threshold, source)
    world = directions @ measurement_frame(node).T
    lengths = np.linalg.norm(world, axis=1, keepdims=True)
    world = np.divide(world, lengths, out=np.zeros_like(world), where=lengths > 0)
    return DWI(Volume(data, ijk_to_ras(node)), bvals, world, b0_threshold)


def dwi_to_node(dwi: DWI, scene, name: str, node=None):
    """A diffusion-weighted volume node holding ``dwi`` (RAS gradients, identity measurement frame)."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLDiffusionWeightedVolumeNode", name)
    node.SetIJKToRASMatrix(numpy_to_matrix(dwi.affine))
    node.SetMeasurementFrameMatrix(numpy_to_matrix(np.eye(4)))
    gradients = numpy_support.numpy_to_vtk(np.ascontiguousarray(dwi.bvecs, dtype=np.float64), deep=True)
    node.SetDiffusionGradients(gradients)
    node.SetBValues(numpy_support.numpy_to_vtk(np.ascontiguousarray(dwi.bvals, dtype=np.float64), deep=True))
    node.SetAndObserveImageData(array_to_image(dwi.data.astype(np.float32)))
    return node


def tensor_from_node(node) -> Volume:
    """(I, J, K, 6) FSL-order tensors in the RAS frame (mm^2/s) from a diffusion tensor volume node."""
    if node is None or not node.IsA("vtkMRMLDiffusionTensorVolumeNode"):
        raise GlymphError("expected a diffusion tensor volume node")
    check_untransformed(node, "DTI")
    image = node.GetImageData()
    tensors = image.GetPointData().GetTensors() if image is not None else None
    if tensors is None:
        raise GlymphError(f"DTI node '{node.GetName()}' holds no tensors")
    matrices = image_to_array(image, tensors).reshape(*image.GetDimensions(), 3, 3).astype(np.float64)
    frame = measurement_frame(node)
    ras = np.einsum("ia,...ab,jb->...ij", frame, matrices, frame)
    return Volume(from_matrix(ras).astype(np.float32), ijk_to_ras(node))


def tensor_image(tensor: Volume) -> vtk.vtkImageData:
    """vtkImageData with (I, J, K, 6) FSL-order tensors as 9-component point-data tensors."""
    return array_to_image(to_matrix(np.asarray(tensor.data, dtype=np.float32)).reshape(*tensor.shape, 9), tensors=True)


def tensor_to_node(tensor: Volume, scene, name: str, node=None):
    """A diffusion tensor volume node holding RAS tensors (identity measurement frame)."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLDiffusionTensorVolumeNode", name)
    node.SetIJKToRASMatrix(numpy_to_matrix(tensor.affine))
    node.SetMeasurementFrameMatrix(numpy_to_matrix(np.eye(4)))
    node.SetAndObserveImageData(tensor_image(tensor))
    return node


def dti_maps_with_slicer(tensor: Volume) -> tuple[Volume, Volume]:
    """FA and the colour map Slicer shows for tensors, both by Slicer's ``vtkDiffusionTensorMathematics``.

    The colour map is Slicer's "colour by orientation": |principal eigenvector| x the linear
    anisotropy (lambda1 - lambda2) / lambda1, RGB in [0, 1] (8-bit steps). Tensors are in RAS, so
    red is L-R, green A-P, blue S-I. (glymph's own ``colour_fa`` weights by FA instead.)
    """
    import slicer

    maths = slicer.vtkDiffusionTensorMathematics()
    maths.SetInputData(tensor_image(tensor))
    maths.SetOperationToFractionalAnisotropy()
    maths.Update()
    fa = image_to_array(maths.GetOutput())
    maths.SetOperationToColorByOrientation()
    maths.SetScaleFactor(1000.0)  # the filter maps colour values through 255 * scale / 1000
    maths.Update()
    rgba = image_to_array(maths.GetOutput())
    return Volume(fa.astype(np.float32), tensor.affine), Volume(rgba[..., :3].astype(np.float32) / 255.0, tensor.affine)

"""Scalar, vector and label map volume nodes to and from ``glymph.Volume``.

VTK image data is stored with x (the node's i axis) varying fastest, so a (I, J, K, C) array is
laid out as ``array.transpose(2, 1, 0, 3)`` in memory. The node, not the image data, holds the
geometry (IJK-to-RAS); the image data keeps origin 0 and spacing 1, as Slicer expects.
"""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

from glymph.errors import GlymphError
from glymph.volume import Volume


def matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])


def numpy_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            matrix.SetElement(i, j, float(array[i, j]))
    return matrix


def ijk_to_ras(node) -> np.ndarray:
    """4x4 IJK-to-RAS matrix of a volume node."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix_to_numpy(matrix)


def image_to_array(image: vtk.vtkImageData, array: vtk.vtkDataArray | None = None) -> np.ndarray:
    """(I, J, K) or (I, J, K, C) numpy copy of an image's scalars (or of ``array``)."""
    data = array if array is not None else image.GetPointData().GetScalars()
    if data is None:
        raise GlymphError("the volume node has no image data; load or compute it first")
    i, j, k = image.GetDimensions()
    values = numpy_support.vtk_to_numpy(data)
    components = data.GetNumberOfComponents()
    values = values.reshape(k, j, i, components).transpose(2, 1, 0, 3)
    return np.ascontiguousarray(values[..., 0] if components == 1 else values)


def array_to_image(array: np.ndarray, tensors: bool = False) -> vtk.vtkImageData:
    """vtkImageData holding an (I, J, K) or (I, J, K, C) array as scalars, or (``tensors``, C = 9)
    as point-data tensors."""
    array = np.asarray(array)
    components = 1 if array.ndim == 3 else array.shape[3]
    image = vtk.vtkImageData()
    image.SetDimensions(*array.shape[:3])
    flat = np.ascontiguousarray(array.reshape(*array.shape[:3], components).transpose(2, 1, 0, 3)).reshape(
        -1, components
    )
    values = numpy_support.numpy_to_vtk(flat, deep=True)
    if tensors:
        values.SetName("tensors")
        image.GetPointData().SetTensors(values)
    else:
        image.GetPointData().SetScalars(values)
    return image


def check_untransformed(node, kind: str = "volume") -> None:
    """glymph reads a node's own coordinates (IJK-to-RAS, control points): a parent transform must be hardened first."""
    if node.GetParentTransformNode() is not None:
        raise GlymphError(f"{kind} '{node.GetName()}' is under a transform; harden the transform first (Data module)")


def volume_from_node(node) -> Volume:
    """A glymph Volume (RAS) from a scalar, label map or vector volume node."""
    if node is None or not node.IsA("vtkMRMLVolumeNode"):
        raise GlymphError("expected a volume node")
    check_untransformed(node)
    return Volume(image_to_array(node.GetImageData()), ijk_to_ras(node))


def volume_to_node(volume: Volume, scene, name: str, node=None, class_name: str = "vtkMRMLScalarVolumeNode"):
    """Put a Volume into ``node`` (or a new node of ``class_name``) with its geometry; show defaults."""
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
    node.SetIJKToRASMatrix(numpy_to_matrix(volume.affine))
    node.SetAndObserveImageData(array_to_image(volume.data))
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def mask_to_node(mask: Volume, scene, name: str):
    """A new label map node holding a brain mask (1 inside, 0 outside) with its geometry."""
    binary = mask.with_data((np.asarray(mask.data) > 0).astype(np.uint8))
    return volume_to_node(binary, scene, name, class_name="vtkMRMLLabelMapVolumeNode")

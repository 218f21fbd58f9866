"""Bridge between Slicer MRML nodes and glymph objects.

Imports Slicer's MRML classes (``slicer``) and VTK only, never qt or ``slicer.app``, so the same
code runs inside 3D Slicer and in plain Python with the ``slicer-core`` wheel. Volumes go from
nodes to ``glymph.Volume`` (RAS affine from the node's IJK-to-RAS matrix) and back; DWI and DTI
nodes carry gradients and tensors, converted to and from the RAS frame through their measurement
frame; markups, tables and segmentations hold ROIs, results and label maps.
"""

from glymph_mrml.diffusion import dti_maps_with_slicer, dwi_from_node, dwi_to_node, tensor_from_node, tensor_to_node
from glymph_mrml.markups import rois_from_markups_node, rois_to_markups_node
from glymph_mrml.outputs import fill
from glymph_mrml.segmentations import labelmap_to_segmentation, segmentation_to_labelmap
from glymph_mrml.tables import rows_from_table, table_from_rows
from glymph_mrml.volumes import mask_to_node, volume_from_node, volume_to_node

__all__ = [
    "dti_maps_with_slicer",
    "dwi_from_node",
    "dwi_to_node",
    "fill",
    "labelmap_to_segmentation",
    "mask_to_node",
    "rois_from_markups_node",
    "rois_to_markups_node",
    "rows_from_table",
    "segmentation_to_labelmap",
    "table_from_rows",
    "tensor_from_node",
    "tensor_to_node",
    "volume_from_node",
    "volume_to_node",
]

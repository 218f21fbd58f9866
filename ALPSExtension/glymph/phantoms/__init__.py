"""Synthetic data with known truth, built on real anatomy: for tests, benchmarks and training.

``dwi`` (DTI-ALPS phantoms on MNI152), ``epvs`` (perivascular spaces inserted into a real T1),
``swi`` (superficial veins on an SWI head), ``swi_curves`` (a second, unlike vein generator on
that head) and their shared ``geometry``. Computation packages
never import this package.
"""

from glymph.phantoms.deformation import Deformation
from glymph.phantoms.dwi import DWIPhantom, HeadPose, alps_phantom, write_fsl
from glymph.phantoms.epvs import EPVSPhantom, epvs_phantom, thick_slices
from glymph.phantoms.geometry import rotation_matrix
from glymph.phantoms.swi import SWIPhantom, VeinImage, VeinShapes, swi_phantom, tortuous_vein_image
from glymph.phantoms.swi_curves import curving_swi_phantom

__all__ = [
    "DWIPhantom",
    "Deformation",
    "EPVSPhantom",
    "HeadPose",
    "SWIPhantom",
    "VeinImage",
    "VeinShapes",
    "alps_phantom",
    "curving_swi_phantom",
    "epvs_phantom",
    "rotation_matrix",
    "swi_phantom",
    "thick_slices",
    "tortuous_vein_image",
    "write_fsl",
]

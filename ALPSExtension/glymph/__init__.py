"""glymph: quantitative glymphatic MRI (DTI-ALPS, perivascular spaces, superficial veins).

The backend of the glymph 3D Slicer extension, usable on its own::

    import glymph
    dwi = glymph.read_dwi("sub-01_dwi.nii.gz")          # FSL bval/bvec beside it
    result = glymph.run_alps(dwi, roi_set="jhu")
    print(result.index.alps_L, result.index.alps_R, result.index.alps)

World coordinates are RAS millimetres, diffusivities mm^2/s. Heavy packages are imported only
where they are used, so ``import glymph`` and ``glymph --help`` stay fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "GlymphError": "glymph.errors",
    "Volume": "glymph.volume",
    "DWI": "glymph.dwi",
    "read_dwi": "glymph.dwi",
    "read_volume": "glymph.image_io",
    "TensorModel": "glymph.tensor",
    "TensorFit": "glymph.tensor",
    "RoiSet": "glymph.rois",
    "builtin_roi_set": "glymph.rois",
    "read_markups": "glymph.markups",
    "write_markups": "glymph.markups",
    "alps_index": "glymph.alps",
    "AlpsIndex": "glymph.alps",
    "DTIResult": "glymph.pipeline",
    "AlpsResult": "glymph.pipeline",
    "fit_dti": "glymph.pipeline",
    "run_alps": "glymph.pipeline",
    "alps_from_dti": "glymph.pipeline",
    "alps_from_rois": "glymph.pipeline",
    "write_dti": "glymph.pipeline",
    "write_alps": "glymph.pipeline",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'glymph' has no attribute {name!r}")

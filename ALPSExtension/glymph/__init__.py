"""glymph: quantitative glymphatic MRI (DTI-ALPS, perivascular spaces, superficial veins).

The backend of the glymph 3D Slicer extension, usable on its own::

    import glymph
    dwi = glymph.read_dwi("sub-01_dwi.nii.gz")          # FSL bval/bvec beside it
    result = glymph.run_alps(dwi, roi_set="jhu")
    print(result.index.alps_L, result.index.alps_R, result.index.alps)
    epvs = glymph.run_epvs(glymph.read_volume("sub-01_T1w.nii.gz"))
    veins = glymph.run_vein(glymph.read_volume("sub-01_swi.nii.gz"))

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
    "run_epvs": "glymph.epvs",
    "write_epvs": "glymph.epvs",
    "EPVSResult": "glymph.epvs",
    "run_vein": "glymph.vein",
    "write_vein": "glymph.vein",
    "VeinResult": "glymph.vein",
    "agreement": "glymph.evaluation",
    "bland_altman": "glymph.evaluation",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'glymph' has no attribute {name!r}")

"""glymph: quantitative glymphatic MRI (DTI-ALPS, perivascular spaces, superficial veins).

The backend of the glymph 3D Slicer extension, usable on its own::

    import glymph
    dwi = glymph.read_dwi("sub-01_dwi.nii.gz")          # FSL bval/bvec beside it
    result = glymph.run_alps(dwi, roi_set="jhu")
    print(result.index.alps_L, result.index.alps_R, result.index.alps)
    epvs = glymph.run_epvs(glymph.read_volume("sub-01_T1w.nii.gz"))
    veins = glymph.run_vein(glymph.read_volume("sub-01_swi.nii.gz"))

World coordinates are RAS millimetres, diffusivities mm^2/s. Heavy packages are imported only
where they are used, so ``import glymph`` and ``glymph --help`` stay fast. The packages and the way
data flows through them: ``docs/architecture.md``.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "GlymphError": "glymph.errors",
    "Volume": "glymph.volume",
    "read_volume": "glymph.image_io",
    "DWI": "glymph.dti.dwi",
    "read_dwi": "glymph.dti.dwi",
    "TensorModel": "glymph.dti.tensor",
    "TensorFit": "glymph.dti.tensor",
    "DTIResult": "glymph.dti.pipeline",
    "fit_dti": "glymph.dti.pipeline",
    "write_dti": "glymph.dti.files",
    "RoiSet": "glymph.alps.rois",
    "builtin_roi_set": "glymph.alps.rois",
    "read_markups": "glymph.alps.markups",
    "write_markups": "glymph.alps.markups",
    "alps_index": "glymph.alps.index",
    "AlpsIndex": "glymph.alps.index",
    "AlpsResult": "glymph.alps.pipeline",
    "run_alps": "glymph.alps.pipeline",
    "alps_from_dti": "glymph.alps.pipeline",
    "alps_from_rois": "glymph.alps.pipeline",
    "write_alps": "glymph.alps.files",
    "read_alps": "glymph.alps.files",
    "run_epvs": "glymph.epvs.pipeline",
    "EPVSResult": "glymph.epvs.pipeline",
    "write_epvs": "glymph.epvs.files",
    "read_epvs": "glymph.epvs.files",
    "EPVSFolder": "glymph.epvs.files",
    "run_vein": "glymph.vein.pipeline",
    "VeinResult": "glymph.vein.pipeline",
    "write_vein": "glymph.vein.files",
    "read_vein": "glymph.vein.files",
    "agreement": "glymph.evaluation",
    "bland_altman": "glymph.evaluation",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'glymph' has no attribute {name!r}")

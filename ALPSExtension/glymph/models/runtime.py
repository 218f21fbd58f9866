"""ONNX Runtime sessions for glymph's own networks (inference without PyTorch).

glymph's own networks are trained with PyTorch and shipped as ONNX files; ONNX Runtime runs them,
so a user who only measures needs neither PyTorch nor ultralytics (see README: what that saves a
Slicer user). ``threads`` caps ONNX Runtime's intra-op threads (None: ONNX Runtime's default, one
per core); ``device`` follows ``--device``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from glymph.defaults import DEVICE, DEVICES
from glymph.errors import GlymphError


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise GlymphError("running glymph's networks needs ONNX Runtime: pip install 'glymph[models]'") from None
    return onnxruntime


def providers(device: str = DEVICE) -> list[str]:
    """ONNX Runtime execution providers for ``--device`` (auto: CUDA when ONNX Runtime has it)."""
    if device not in DEVICES:
        raise GlymphError(f"unknown device '{device}'; choose one of: {', '.join(DEVICES)}")
    available = _onnxruntime().get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise GlymphError("--device cuda: this ONNX Runtime has no CUDA provider (pip install onnxruntime-gpu)")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def check_network(model_id: str, model_dir: str | os.PathLike | None = None, device: str = DEVICE) -> None:
    """Before a run's work: the files of ``model_id`` are found and intact (``glymph.models.loader``)
    and ONNX Runtime can run on ``device``; a GlymphError otherwise."""
    from glymph.models.loader import model_files

    model_files(model_id, model_dir)
    providers(device)


@lru_cache(maxsize=8)
def onnx_session(path: Path, device: str = DEVICE, threads: int | None = None):
    """An ONNX Runtime inference session for ``path`` (cached per file, device and thread count)."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers(device))
    except GlymphError:
        raise
    except Exception as exc:
        raise GlymphError(f"cannot load model {path}: {exc}") from None

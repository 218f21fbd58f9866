"""Runtimes for each shipped network: PyTorch against ONNX Runtime, same inputs, on this machine's
cores (2 here), outputs compared. glymph's default runtime for a network is the faster one that
agrees (|difference| <= 1e-4, relative for box coordinates in pixels).

* the ALPS level CNN (25 slices, 3 x 64 x 64) and ROI YOLO (3 slices, 3 x 128 x 128): PyTorch
  from the training run's ``.pt`` files against the shipped ``.onnx`` files;
* deepbet's first network (128^3), TorchScript against its ONNX export made here.

Run: .venv/bin/python benchmarks/inference.py [--model-dir DIR] [--skip-deepbet]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def timed(run, repeats: int = 10) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def compare(name: str, torch_run, onnx_run, atol: float = 1e-4, rtol: float = 0.0, repeats: int = 10) -> None:
    a, b = torch_run(), onnx_run()
    worst = float(np.max(np.abs(a - b) - rtol * np.abs(a)))
    t_torch, t_onnx = timed(torch_run, repeats), timed(onnx_run, repeats)
    agree = worst <= atol
    faster = "ONNX Runtime" if t_onnx < t_torch else "PyTorch"
    print(
        f"{name}: PyTorch {t_torch * 1000:.1f} ms, ONNX Runtime {t_onnx * 1000:.1f} ms "
        f"(ONNX/PyTorch {t_onnx / t_torch:.2f}); outputs {'agree' if agree else 'DIFFER'} "
        f"(worst excess over tolerance {worst:.1e}); faster: {faster}"
    )


def detector_networks(folder: Path, threads: int) -> None:
    import torch
    from ultralytics.nn.tasks import DetectionModel  # noqa: F401  (unpickling the YOLO checkpoint needs it)

    from glymph.models.runtime import onnx_session
    from glymph.training.roi_detector import level_cnn

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    level = level_cnn()
    level.load_state_dict(torch.load(folder / "level_cnn.pt", map_location="cpu"))
    level.eval()
    slices = rng.uniform(0, 0.8, (25, 3, 64, 64)).astype(np.float32)
    session = onnx_session(folder / "level_cnn.onnx", "cpu", threads)

    def level_torch() -> np.ndarray:
        with torch.no_grad():
            return level(torch.from_numpy(slices)).numpy()

    yolo_parameters = sum(
        p.numel()
        for p in torch.load(folder / "roi_yolo.pt", map_location="cpu", weights_only=False)["model"].parameters()
    )
    print(f"parameters: level CNN {sum(p.numel() for p in level.parameters()):,}, ROI YOLO {yolo_parameters:,}")
    compare("level CNN (25 slices)", level_torch, lambda: session.run(None, {"slices": slices})[0])

    checkpoint = torch.load(folder / "roi_yolo.pt", map_location="cpu", weights_only=False)
    yolo = checkpoint["model"].float().eval()
    images = rng.uniform(0, 0.8, (3, 3, 128, 128)).astype(np.float32)
    yolo_session = onnx_session(folder / "roi_yolo.onnx", "cpu", threads)
    name = yolo_session.get_inputs()[0].name

    def yolo_torch() -> np.ndarray:
        with torch.no_grad():
            out = yolo(torch.from_numpy(images))
            return (out[0] if isinstance(out, (list, tuple)) else out).numpy()

    compare("ROI YOLO (3 slices)", yolo_torch, lambda: yolo_session.run(None, {name: images})[0], rtol=1e-4)


def deepbet_network(threads: int) -> None:
    import torch

    from glymph.models.loader import load_torchscript, model_files
    from glymph.models.runtime import onnx_session

    torch.set_num_threads(threads)
    net = load_torchscript(model_files("deepbet")["bbox_model.pt"], "cpu")
    volume = torch.from_numpy(np.random.default_rng(0).normal(0.449, 0.226, (1, 1, 128, 128, 128)).astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "bbox_model.onnx"
        try:
            torch.onnx.export(net, (volume,), str(path), opset_version=17, dynamo=False)
        except Exception as exc:  # report, do not hide: the exporter may not take this TorchScript
            print(f"deepbet coarse network: ONNX export failed ({type(exc).__name__}: {str(exc)[:120]})")
            return
        session = onnx_session(path, "cpu", threads)
        x = volume.numpy()

        def run_torch() -> np.ndarray:
            with torch.no_grad():
                return net(volume).numpy()

        compare(
            "deepbet coarse network (128^3)",
            run_torch,
            lambda: session.run(None, {session.get_inputs()[0].name: x})[0],
            repeats=3,
        )


def installed_sizes() -> None:
    """What a user installs for inference (ONNX Runtime) against training (PyTorch and friends):
    the files each distribution installed in this environment, MB."""
    from importlib import metadata

    sizes = []
    for name in ("onnxruntime", "torch", "torchvision", "ultralytics", "opencv-python"):
        try:
            files = metadata.files(name) or []
        except metadata.PackageNotFoundError:
            continue
        total = sum(f.locate().stat().st_size for f in files if f.locate().is_file())
        sizes.append(f"{name} {metadata.version(name)}: {total / 1e6:.0f} MB")
    print("installed here: " + "; ".join(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", help="the detector's training folder (default: the shipped files)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-deepbet", action="store_true")
    args = parser.parse_args()
    from glymph.models.loader import SHIPPED

    installed_sizes()
    detector_networks(Path(args.model_dir) if args.model_dir else SHIPPED / "alps-roi-detector", args.threads)
    if not args.skip_deepbet:
        deepbet_network(args.threads)


if __name__ == "__main__":
    main()

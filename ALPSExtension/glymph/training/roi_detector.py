"""``glymph train roi-detector``: the ALPS ROI detector from scratch, reproducibly, on the CPU.

1. Subjects from ``glymph.phantoms.roi_detector.detector_subject``: training seeds
   ``TRAIN_SEED0 + i``, validation seeds ``VALIDATION_SEED0 + i`` (never used in training).
2. The level network (``level_cnn``, PyTorch): every level slice of every training subject,
   targets each ROI's true level's offset above the slice (four outputs, clipped to +-25 mm), L1
   loss, Adam, random shifts of up to 4 pixels and intensity scaling as augmentation.
3. The ROI detector: ultralytics YOLOv8n built from its YAML (no pretrained weights), 128 x 128
   colour-FA slices, 12 mm boxes around the true centres; no flips (left and right are classes)
   and no hue change (colour is direction).
4. Both exported to ONNX (``level_cnn.onnx``, ``roi_yolo.onnx``) with ``model.json`` (their
   SHA-256), so the folder is a model usable with ``--model-dir``; validation through the
   exported files, as inference runs them, into ``metrics.json``.

ultralytics (AGPL-3.0) is imported only here: inference runs the ONNX files with ONNX Runtime.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glymph.alps.detector import (
    BOX_MM,
    BOX_PIXEL_MM,
    LEVEL_Z,
    NEIGHBOURS_MM,
    combine_boxes,
    estimate_level,
    plausibility_problems,
)
from glymph.alps.rois import LABELS
from glymph.errors import GlymphError
from glymph.models.roi_detector import FILES, LEVEL_UNIT_MM, MODEL_ID, RoiDetectorNetworks
from glymph.phantoms.roi_detector import DetectorSubject, detector_subject
from glymph.progress import step
from glymph.training import write_manifest

log = logging.getLogger("glymph")

TRAIN_SEED0 = 1000
VALIDATION_SEED0 = 900_000
LEVEL_CLIP_MM = 25.0


@dataclass(frozen=True)
class TrainingPlan:
    """Everything that decides the weights (recorded in ``metrics.json`` and the card)."""

    subjects: int = 400
    validation_subjects: int = 40
    level_epochs: int = 12
    yolo_epochs: int = 60
    batch: int = 32
    seed: int = 0
    workers: int = 2  # processes drawing subjects

    def command(self, out: str) -> str:
        return (
            f"glymph train roi-detector --out {out} --subjects {self.subjects} --validation-subjects "
            f"{self.validation_subjects} --level-epochs {self.level_epochs} --yolo-epochs {self.yolo_epochs} "
            f"--seed {self.seed}"
        )


def draw_subjects(seeds: list[int], workers: int) -> list[DetectorSubject]:
    """Subjects for ``seeds`` (in order), drawn in ``workers`` processes."""
    if workers <= 1:
        return [detector_subject(seed) for seed in seeds]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(detector_subject, seeds, chunksize=4))


def level_cnn():
    """The level network: four conv blocks (16-32-64-64 channels, 64 -> 4 pixels), then two dense
    layers; one output per ROI (``LABELS`` order)."""
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(3, 16), *block(16, 32), *block(32, 64), *block(64, 64),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(inplace=True), nn.Linear(64, len(LABELS)),
    )  # fmt: skip


def train_level(subjects: list[DetectorSubject], plan: TrainingPlan, out: Path) -> Path:
    """Train the level network and export it to ``out/level_cnn.onnx``."""
    import torch

    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)
    x = torch.from_numpy(np.concatenate([s.level_slices for s in subjects]))
    offsets = np.concatenate([s.level_offsets_mm for s in subjects])
    y = torch.from_numpy(np.clip(offsets, -LEVEL_CLIP_MM, LEVEL_CLIP_MM).astype(np.float32) / LEVEL_UNIT_MM)
    net = level_cnn()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = plan.level_epochs * int(np.ceil(len(x) / plan.batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3, total_steps=max(steps, 1))
    net.train()
    for epoch in range(plan.level_epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), plan.batch):
            batch = order[start : start + plan.batch]
            shift = tuple(int(v) for v in rng.integers(-4, 5, 2))
            images = torch.roll(x[batch], shifts=shift, dims=(2, 3)) * float(rng.uniform(0.8, 1.2))
            loss = torch.nn.functional.l1_loss(net(images), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
        log.info("level network epoch %d/%d: L1 %.2f mm", epoch + 1, plan.level_epochs, total / len(x) * LEVEL_UNIT_MM)
    net.eval()
    torch.save(net.state_dict(), out / "level_cnn.pt")
    path = out / "level_cnn.onnx"
    torch.onnx.export(
        net, (x[:1],), str(path), input_names=["slices"], output_names=["offset"],
        dynamic_axes={"slices": {0: "n"}, "offset": {0: "n"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    return path


def write_yolo_dataset(train: list[DetectorSubject], validation: list[DetectorSubject], root: Path) -> Path:
    """Colour-FA slices as PNG with YOLO label files (class, centre, size; fractions of the slice)."""
    from PIL import Image

    size = train[0].box_slices.shape[-1]
    box = BOX_MM / BOX_PIXEL_MM / size
    for split, subjects in (("train", train), ("val", validation)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, subject in enumerate(subjects):
            for j, (image, centres) in enumerate(zip(subject.box_slices, subject.box_centres, strict=True)):
                pixels = np.clip(image.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / "images" / split / f"{i:05d}_{j}.png")
                lines = [
                    f"{c} {col / size:.6f} {row / size:.6f} {box:.6f} {box:.6f}"
                    for c, (col, row) in enumerate(centres)
                    if 0 <= col < size and 0 <= row < size
                ]
                (root / "labels" / split / f"{i:05d}_{j}.txt").write_text("\n".join(lines) + "\n")
    names = ", ".join(f"{i}: {label}" for i, label in enumerate(LABELS))
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {{{names}}}\n")
    return data


def train_yolo(data: Path, plan: TrainingPlan, out: Path, size: int) -> Path:
    """Train YOLOv8n from scratch on ``data`` and export it to ``out/roi_yolo.onnx``."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
    except ImportError:
        raise GlymphError("training the ROI detector needs ultralytics: pip install 'glymph[train]'") from None
    model = YOLO("yolov8n.yaml")
    model.train(
        data=str(data), epochs=plan.yolo_epochs, imgsz=size, batch=plan.batch, workers=0, device="cpu",
        seed=plan.seed, deterministic=True, pretrained=False, amp=False, plots=False, verbose=False,
        project=str(out / "yolo_runs"), name="train", exist_ok=True, patience=1000,
        fliplr=0.0, flipud=0.0, mosaic=0.0, mixup=0.0, hsv_h=0.0, hsv_s=0.3, hsv_v=0.3,
        degrees=3.0, translate=0.08, scale=0.1, close_mosaic=0, warmup_epochs=min(3, plan.yolo_epochs - 1),
    )  # fmt: skip
    weights = out / "yolo_runs" / "train" / "weights" / "last.pt"
    exported = YOLO(str(weights)).export(format="onnx", imgsz=size, dynamic=True, simplify=False, opset=17)
    path = out / "roi_yolo.onnx"
    shutil.move(exported, path)
    shutil.copy(weights, out / "roi_yolo.pt")
    return path


def validate(networks: RoiDetectorNetworks, subjects: list[DetectorSubject]) -> dict:
    """Level and centre errors of the exported networks on subjects never used in training.

    Each ROI's level comes from the subjects' level slices, as at inference; the boxes from the
    box slices nearest to it (the subjects keep no tensors to render each ROI's own slices:
    ``benchmarks/roi_detector.py`` runs the whole inference on new DWIs)."""
    level_errors, centre_errors, x_errors, total_errors, implausible = [], [], [], [], 0
    for subject in subjects:
        levels, _ = estimate_level(networks.level_offsets(subject.level_slices))
        level_errors.append(levels - subject.level_z_mm)
        boxes = networks.boxes(subject.box_slices[:1])
        centres, confidence = combine_boxes(boxes, levels)
        implausible += bool(plausibility_problems(centres, confidence))
        found = np.array([centres[label] for label in LABELS])
        truth = subject.truth_template
        centre_errors.append(np.linalg.norm(found[:, :2] - truth[:, :2], axis=1))
        x_errors.append(np.abs(found[:, 0] - truth[:, 0]))
        total_errors.append(np.linalg.norm(found - truth, axis=1))
    level = np.abs(np.concatenate(level_errors))
    centre = np.concatenate(centre_errors)
    x = np.concatenate(x_errors)
    total = np.concatenate(total_errors)
    return {
        "subjects": len(subjects),
        "roi_level_error_mm": {"mean_abs": float(level.mean()), "p95": float(np.percentile(level, 95)), "max_abs": float(level.max())},
        "in_plane_centre_error_mm": {"mean": float(centre.mean()), "p95": float(np.percentile(centre, 95)), "max": float(centre.max())},
        "left_right_error_mm": {"mean": float(x.mean()), "p95": float(np.percentile(x, 95)), "max": float(x.max()), "within_1_5_mm": float((x <= 1.5).mean())},
        "centre_error_mm": {"mean": float(total.mean()), "p95": float(np.percentile(total, 95)), "max": float(total.max()), "within_5_mm": float((total <= 5).mean())},
        "implausible": implausible,
    }  # fmt: skip


def train_roi_detector(out: str | os.PathLike, plan: TrainingPlan = TrainingPlan(), keep_data: bool = False) -> dict:
    """Train both networks into the model folder ``out``; returns the validation metrics."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with step(f"drawing {plan.subjects} training and {plan.validation_subjects} validation subjects"):
        train = draw_subjects([TRAIN_SEED0 + i for i in range(plan.subjects)], plan.workers)
        validation = draw_subjects([VALIDATION_SEED0 + i for i in range(plan.validation_subjects)], plan.workers)
    with step(f"training the level network ({plan.level_epochs} epochs)"):
        train_level(train, plan, out)
    data = write_yolo_dataset(train, validation, out / "yolo_data")
    with step(f"training the ROI detector ({plan.yolo_epochs} epochs)"):
        train_yolo(data, plan, out, train[0].box_slices.shape[-1])
    networks = RoiDetectorNetworks.from_folder(out)
    metrics = {**validate(networks, validation), "training_minutes": (time.perf_counter() - started) / 60}
    write_manifest(
        out, MODEL_ID, FILES, {**asdict(plan), "command": plan.command(str(out))}, metrics,
        grid={"level_z_mm": LEVEL_Z.tolist(), "neighbours_mm": list(NEIGHBOURS_MM), "box_mm": BOX_MM},
    )  # fmt: skip
    if not keep_data:
        shutil.rmtree(out / "yolo_data", ignore_errors=True)
        shutil.rmtree(out / "yolo_runs", ignore_errors=True)
    return metrics

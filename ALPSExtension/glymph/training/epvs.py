"""``glymph train epvs``: the learned EPVS segmentation network from scratch, reproducibly, on the CPU.

1. Patches from ``glymph.phantoms.epvs_synth.synthetic_patch`` (label maps of real anatomy, random
   contrast, resolution and look-alikes): training seeds ``TRAIN_SEED0 + i``, validation seeds
   ``VALIDATION_SEED0 + i`` (never used in training), drawn in worker processes.
2. The network (``epvs_unet``): MONAI's 3D U-Net, 2 input channels (T1, T2; a missing one is
   zero), 1 output (the logit of "perivascular space"). Chosen by measurement on this 2-core CPU
   (``benchmarks/epvs_networks.py``): of MONAI's UNet (16-128 and 8-64 channels), SegResNet and
   BasicUNet at similar size, the 16-128 UNet is the fastest to train per patch after the 8-64
   one, and runs a 96^3 window in under a second.
3. Training: Dice + binary cross-entropy, Adam with a one-cycle schedule; every patch seen with
   a random permutation and flip of its axes (so a thick axis can be any axis), a random
   intensity scale per channel, and channel dropout (both channels, the T1 alone, the T2 alone).
4. Export: the PyTorch state dict (``epvs_unet.pt``) and ONNX (``epvs_unet.onnx``, any patch
   size divisible by 8), ``model.json`` with their SHA-256, the plan and the validation metrics
   (voxel Dice on the validation patches for each input combination).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glymph.phantoms.epvs_synth import PATCH, Patch, synthetic_patch
from glymph.progress import step
from glymph.training import write_manifest

log = logging.getLogger("glymph")

MODEL_ID = "epvs-unet"
FILES = ("epvs_unet.onnx",)
TRAIN_SEED0 = 10_000
VALIDATION_SEED0 = 950_000
CHANNEL_SETS = {"t1+t2": (True, True), "t1": (True, False), "t2": (False, True)}
CHANNEL_SET_ODDS = (0.45, 0.35, 0.2)  # how often training shows each set above
CHANNELS = (16, 32, 64, 128)


@dataclass(frozen=True)
class TrainingPlan:
    """Everything that decides the weights (recorded in ``model.json`` and the card)."""

    patches: int = 2400
    validation_patches: int = 96
    epochs: int = 12
    batch: int = 4
    learning_rate: float = 2e-3
    seed: int = 0
    workers: int = 2  # processes drawing patches

    def command(self, out: str) -> str:
        return (
            f"glymph train epvs --out {out} --patches {self.patches} --validation-patches {self.validation_patches} "
            f"--epochs {self.epochs} --seed {self.seed}"
        )


def epvs_unet():
    """MONAI 3D U-Net: channels 16-32-64-128, three stride-2 levels, one residual unit each, batch norm."""
    from monai.networks.nets import UNet

    return UNet(3, 2, 1, channels=CHANNELS, strides=(2, 2, 2), num_res_units=1, norm="batch")


def draw_patches(seeds: list[int], workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 2, P, P, P) float16 and labels (n, P, P, P) bool for ``seeds``, in order."""
    if workers <= 1:
        patches = [synthetic_patch(seed) for seed in seeds]
    else:
        with ProcessPoolExecutor(workers) as pool:
            patches = list(pool.map(synthetic_patch, seeds, chunksize=8))
    return stack(patches)


def stack(patches: list[Patch]) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([p.image for p in patches]).astype(np.float16)
    labels = np.stack([p.label for p in patches])
    return images, labels


def augment(rng: np.random.Generator, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One view of a patch: axes permuted and flipped at random, channels scaled and dropped."""
    order = rng.permutation(3)
    image = image.transpose(0, *(1 + order))
    label = label.transpose(*order)
    for axis in range(3):
        if rng.random() < 0.5:
            image, label = np.flip(image, axis + 1), np.flip(label, axis)
    keep = list(CHANNEL_SETS.values())[rng.choice(len(CHANNEL_SETS), p=CHANNEL_SET_ODDS)]
    scale = rng.uniform(0.85, 1.15, 2) * np.array(keep, dtype=np.float32)
    image = image.astype(np.float32) * scale[:, None, None, None].astype(np.float32)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Voxel Dice of two boolean arrays (1 when both are empty)."""
    total = predicted.sum() + truth.sum()
    return float(2 * (predicted & truth).sum() / total) if total else 1.0


def predict_patches(net, images: np.ndarray, keep: tuple[bool, bool], batch: int = 4) -> np.ndarray:
    """Probabilities (n, P, P, P) of ``net`` on patches with only the ``keep`` channels given."""
    import torch

    mask = np.array(keep, dtype=np.float32)[:, None, None, None]
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch].astype(np.float32) * mask)
            out.append(torch.sigmoid(net(x))[:, 0].numpy())
    return np.concatenate(out)


def validate(net, images: np.ndarray, labels: np.ndarray) -> dict:
    """Voxel Dice (probability >= 0.5) over all validation patches, for each input combination."""
    net.eval()
    return {
        name: round(dice(predict_patches(net, images, keep) >= 0.5, labels), 4) for name, keep in CHANNEL_SETS.items()
    }


def train_network(images: np.ndarray, labels: np.ndarray, plan: TrainingPlan, validation) -> object:
    """Train ``epvs_unet`` on the patches (see the module docstring); returns it in evaluation mode."""
    import torch
    from monai.losses import DiceLoss

    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)
    net = epvs_unet()
    dice_loss = DiceLoss(sigmoid=True, batch=True)
    bce = torch.nn.BCEWithLogitsLoss()
    optimiser = torch.optim.Adam(net.parameters(), lr=plan.learning_rate)
    per_epoch = int(np.ceil(len(images) / plan.batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, plan.learning_rate, total_steps=max(plan.epochs * per_epoch, 1)
    )
    for epoch in range(plan.epochs):
        net.train()
        order = rng.permutation(len(images))
        total = 0.0
        for start in range(0, len(images), plan.batch):
            views = [augment(rng, images[i], labels[i]) for i in order[start : start + plan.batch]]
            x = torch.from_numpy(np.stack([v[0] for v in views]))
            y = torch.from_numpy(np.stack([v[1] for v in views])[:, None].astype(np.float32))
            logits = net(x)
            loss = dice_loss(logits, y) + bce(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(views)
        scores = validate(net, *validation)
        log.info(
            "EPVS network epoch %d/%d: loss %.3f, validation Dice %s",
            epoch + 1,
            plan.epochs,
            total / len(images),
            scores,
        )
    net.eval()
    return net


def export(net, out: Path) -> None:
    """``epvs_unet.pt`` (state dict) and ``epvs_unet.onnx`` (opset 17, dynamic batch and size)."""
    import torch

    torch.save(net.state_dict(), out / "epvs_unet.pt")
    example = torch.zeros(1, 2, PATCH, PATCH, PATCH)
    axes = {0: "n", 2: "x", 3: "y", 4: "z"}
    torch.onnx.export(
        net, (example,), str(out / "epvs_unet.onnx"), input_names=["image"], output_names=["logit"],
        dynamic_axes={"image": axes, "logit": axes}, opset_version=17, dynamo=False,
    )  # fmt: skip


def train_epvs(out: str | os.PathLike, plan: TrainingPlan = TrainingPlan()) -> dict:
    """Train the network into the model folder ``out``; returns the validation metrics."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with step(f"drawing {plan.patches} training and {plan.validation_patches} validation patches"):
        images, labels = draw_patches([TRAIN_SEED0 + i for i in range(plan.patches)], plan.workers)
        validation = draw_patches([VALIDATION_SEED0 + i for i in range(plan.validation_patches)], plan.workers)
    with step(f"training the EPVS network ({plan.epochs} epochs)"):
        net = train_network(images, labels, plan, validation)
    export(net, out)
    metrics = {
        "validation_patches": plan.validation_patches,
        "voxel_dice": validate(net, *validation),
        "training_minutes": round((time.perf_counter() - started) / 60, 1),
    }
    write_manifest(
        out, MODEL_ID, FILES, {**asdict(plan), "command": plan.command(str(out))}, metrics,
        network={"monai": "UNet", "channels": list(CHANNELS), "inputs": ["t1", "t2"], "patch": PATCH},
    )  # fmt: skip
    return metrics

"""``glymph train vein``: the learned vein segmentation (DeepLabV3+), from scratch or fine-tuned on
a user's Labelme annotations, reproducibly, on the CPU.

From scratch (``train_vein``):

1. Images from ``glymph.phantoms.minip_synth.synthetic_minip`` (MNI152 anatomy, random contrast,
   pose, pixel size, vein trees, look-alikes and artefacts): training seeds ``TRAIN_SEED0 + i``,
   validation seeds ``VALIDATION_SEED0 + i`` (never used in training), drawn in worker processes.
2. The network (``vein_deeplab``): segmentation-models-pytorch's DeepLabV3+ with a MobileNetV2
   encoder trained from scratch (no ImageNet download), 1 input channel, 1 output (the logit of
   "vein"), decoder of ``DECODER_CHANNELS``. Chosen by measurement on this 2-core CPU
   (``benchmarks/vein_networks.py``): of the
   encoders that keep the weights under 20 MB (MobileNetV2, MobileNetV3, EfficientNet-B0; a ResNet-18
   is 46-49 MB), MobileNetV2 with a 128-channel decoder trains a batch of 8 crops of 192^2 in 0.72 s.
3. Training: Dice + binary cross-entropy, AdamW with a one-cycle schedule, ``steps`` batches of
   random crops (half of them centred on a vein pixel), mirrored left-right at random.
4. Export: ONNX (``vein_deeplab.onnx``, any size that is a multiple of 16), the PyTorch state dict
   in half precision (``vein_deeplab.pt``, what fine-tuning starts from), ``model.json`` with their
   SHA-256, the plan and the validation metrics: pixel Dice on the validation images of the learned
   and the classical method side by side, on the images' own pixels, inside the analysis region.

Fine-tuning (``finetune_vein``): the MinIPs a user annotated in Labelme (on glymph's ``minip.png``)
are split into training and validation subjects; the network starts from the shipped weights (or
a model folder's) and is trained on them the same way; the validation Dice is printed.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.models.vein_network import FILES, MODEL_ID, MULTIPLE, STATE, network_input, network_shape, vein_probability
from glymph.progress import step
from glymph.training import write_manifest

log = logging.getLogger("glymph")

TRAIN_SEED0 = 20_000
VALIDATION_SEED0 = 970_000
ENCODER = "mobilenet_v2"
DECODER_CHANNELS = 128
NETWORK = {"smp": "DeepLabV3Plus", "encoder": ENCODER, "decoder_channels": DECODER_CHANNELS}
THRESHOLD = 0.5


@dataclass(frozen=True)
class TrainingPlan:
    """Everything that decides the weights (recorded in ``model.json`` and the card)."""

    minips: int = 1200
    validation_minips: int = 48
    steps: int = 3000
    batch: int = 8
    crop: int = 192  # network pixels (NETWORK_PIXEL_MM) per side of a training crop
    learning_rate: float = 2e-3
    seed: int = 0
    workers: int = 2  # processes drawing images

    def command(self, out: str) -> str:
        return (
            f"glymph train vein --out {out} --minips {self.minips} --validation-minips {self.validation_minips} "
            f"--steps {self.steps} --seed {self.seed}"
        )


@dataclass(frozen=True)
class Sample:
    """One image for training or validation: the MinIP on its own pixels and on the network's."""

    minip: np.ndarray  # MinIP / brain median, 1 outside the brain
    brain: np.ndarray
    pixel_mm: float
    truth: np.ndarray  # vein pixels of ``minip``
    network_image: np.ndarray  # ``network_input`` (float16)
    network_label: np.ndarray  # vein pixels on the network's grid


def vein_deeplab():
    """DeepLabV3+ (segmentation-models-pytorch), MobileNetV2 encoder from scratch, 1 channel in, 1 out."""
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        raise GlymphError(
            "training the vein network needs segmentation-models-pytorch: pip install 'glymph[train]'"
        ) from None
    return smp.DeepLabV3Plus(
        encoder_name=ENCODER, encoder_weights=None, in_channels=1, classes=1, decoder_channels=DECODER_CHANNELS
    )


def synthetic_sample(seed: int) -> Sample:
    from glymph.models.vein_network import NETWORK_PIXEL_MM
    from glymph.phantoms.minip_synth import synthetic_minip

    s = synthetic_minip(seed, NETWORK_PIXEL_MM)
    image = network_input(s.image, s.brain, s.pixel_mm).astype(np.float16)
    return Sample(s.image, s.brain, s.pixel_mm, s.truth, image, s.label)


def annotated_sample(minip: np.ndarray, brain: np.ndarray, pixel_mm: float, truth: np.ndarray) -> Sample:
    """A user's annotated MinIP (divided by its brain median) as a training sample: the label is
    carried to the network's grid by area (a fine pixel is vein when at least half of it is)."""
    from skimage.transform import resize

    shape = network_shape(minip.shape, pixel_mm)
    label = resize(truth.astype(np.float32), shape, order=1, anti_aliasing=False) >= 0.5
    return Sample(minip, brain, pixel_mm, truth, network_input(minip, brain, pixel_mm).astype(np.float16), label)


def draw_samples(seeds: list[int], workers: int) -> list[Sample]:
    if workers <= 1:
        return [synthetic_sample(seed) for seed in seeds]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(synthetic_sample, seeds, chunksize=4))


def crop(rng: np.random.Generator, sample: Sample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size``^2 crop of a sample's network image and label (zero-padded where it is smaller),
    centred on a vein pixel half of the time, mirrored left-right half of the time."""
    image, label = sample.network_image, sample.network_label
    pad = [(0, max(size - n, 0)) for n in image.shape]
    image, label = np.pad(image, pad), np.pad(label, pad)
    veins = np.argwhere(label)
    if len(veins) and rng.random() < 0.5:
        centre = veins[rng.integers(len(veins))] + rng.integers(-size // 4, size // 4 + 1, 2)
    else:
        centre = np.array([rng.integers(0, n) for n in image.shape])
    lo = np.clip(centre - size // 2, 0, np.array(image.shape) - size)
    window = (slice(lo[0], lo[0] + size), slice(lo[1], lo[1] + size))
    image, label = image[window].astype(np.float32), label[window]
    if rng.random() < 0.5:
        image, label = image[::-1], label[::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def torch_logits(net):
    """A network-grid image (h, w) -> logits (h, w) function of a PyTorch network (padded to
    multiples of ``MULTIPLE``, evaluation mode, no gradients)."""
    import torch

    net.eval()

    def logits(image: np.ndarray) -> np.ndarray:
        pad = [(0, (-n) % MULTIPLE) for n in image.shape]
        x = torch.from_numpy(np.pad(image.astype(np.float32), pad))[None, None]
        with torch.no_grad():
            return net(x)[0, 0].numpy()[: image.shape[0], : image.shape[1]]

    return logits


def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Pixel Dice of two boolean arrays (1 when both are empty)."""
    total = predicted.sum() + truth.sum()
    return float(2 * (predicted & truth).sum() / total) if total else 1.0


def validate(net, samples: list[Sample], classical: bool = False) -> dict:
    """Pixel Dice over all validation images on their own pixels, inside the analysis region
    (``glymph.vein.segmentation.analysis_region``), of the network (probability >= 0.5) and, with
    ``classical``, of the classical method beside it."""
    from glymph.vein.segmentation import VeinInputs, analysis_region, segment_classical

    logits = torch_logits(net)
    found, truth, baseline = [], [], []
    for s in samples:
        inputs = VeinInputs(s.minip, s.brain, s.pixel_mm)
        region = analysis_region(inputs)
        found.append((vein_probability(logits, s.minip, s.brain, s.pixel_mm) >= THRESHOLD)[region])
        truth.append(s.truth[region])
        if classical:
            baseline.append(segment_classical(inputs)[region])
    scores = {"learned": round(dice(np.concatenate(found), np.concatenate(truth)), 4)}
    if classical:
        scores["classical"] = round(dice(np.concatenate(baseline), np.concatenate(truth)), 4)
    return scores


def train_network(
    net, samples: list[Sample], plan: TrainingPlan | FinetunePlan, validation: list[Sample], every: int = 500
):
    """Train ``net`` on crops of ``samples`` (see the module docstring); returns it in evaluation mode."""
    import torch
    from monai.losses import DiceLoss

    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)
    dice_loss = DiceLoss(sigmoid=True, batch=True)
    bce = torch.nn.BCEWithLogitsLoss()
    optimiser = torch.optim.AdamW(net.parameters(), lr=plan.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, plan.learning_rate, total_steps=max(plan.steps, 1))
    total, count = 0.0, 0
    for index in range(plan.steps):
        net.train()
        crops = [crop(rng, samples[i], plan.crop) for i in rng.integers(0, len(samples), plan.batch)]
        x = torch.from_numpy(np.stack([c[0] for c in crops])[:, None])
        y = torch.from_numpy(np.stack([c[1] for c in crops])[:, None].astype(np.float32))
        logits = net(x)
        loss = dice_loss(logits, y) + bce(logits, y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        total, count = total + loss.item(), count + 1
        if (index + 1) % every == 0 or index + 1 == plan.steps:
            log.info(
                "vein network step %d/%d: loss %.3f, validation Dice %s",
                index + 1,
                plan.steps,
                total / count,
                validate(net, validation),
            )
            total, count = 0.0, 0
    net.eval()
    return net


def export(net, out: Path) -> None:
    """``vein_deeplab.onnx`` (opset 17, dynamic batch and size) and ``vein_deeplab.pt`` (half precision)."""
    import torch

    net.eval()
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, out / STATE)
    axes = {0: "n", 2: "h", 3: "w"}
    torch.onnx.export(
        net, (torch.zeros(1, 1, 192, 192),), str(out / FILES[0]), input_names=["image"], output_names=["logit"],
        dynamic_axes={"image": axes, "logit": axes}, opset_version=17, dynamo=False,
    )  # fmt: skip


def load_state(folder: Path):
    """A DeepLabV3+ with the weights of the model folder ``folder`` (its ``vein_deeplab.pt``)."""
    import torch

    path = folder / STATE
    if not path.is_file():
        raise GlymphError(f"{folder} holds no {STATE} to fine-tune from; give a folder made by `glymph train vein`")
    net = vein_deeplab()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()


def train_vein(out: str | os.PathLike, plan: TrainingPlan = TrainingPlan()) -> dict:
    """Train the network from scratch into the model folder ``out``; returns the validation metrics."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.manual_seed(plan.seed)
    with step(f"drawing {plan.minips} training and {plan.validation_minips} validation MinIPs"):
        samples = draw_samples([TRAIN_SEED0 + plan.seed * 100_000 + i for i in range(plan.minips)], plan.workers)
        validation = draw_samples([VALIDATION_SEED0 + i for i in range(plan.validation_minips)], plan.workers)
    with step(f"training the vein network ({plan.steps} steps)"):
        net = train_network(vein_deeplab(), samples, plan, validation)
    export(net, out)
    metrics = {
        "validation_minips": plan.validation_minips,
        "pixel_dice": validate(net, validation, classical=True),
        "training_minutes": round((time.perf_counter() - started) / 60, 1),
    }
    write_manifest(
        out, MODEL_ID, (*FILES, STATE), {**asdict(plan), "command": plan.command(str(out))}, metrics, network=NETWORK
    )
    return metrics


@dataclass(frozen=True)
class FinetunePlan:
    """Fine-tuning on a user's annotations (recorded in ``model.json``)."""

    steps: int = 300
    batch: int = 8
    crop: int = 192
    learning_rate: float = 3e-4
    validation_fraction: float = 0.2  # of the annotated subjects, at least one
    seed: int = 0


@dataclass(frozen=True)
class Annotation:
    """A Labelme file and the MinIP it was drawn on (its brain mask, if glymph wrote one)."""

    name: str
    labelme: Path
    minip: Path
    brain: Path | None


def find_annotations(labelme_dir: str | os.PathLike, images_dir: str | os.PathLike) -> list[Annotation]:
    """Every ``NAME.json`` in ``labelme_dir`` with its MinIP: ``images_dir/NAME/minip.nii.gz`` (a
    ``glymph vein`` result folder, whose ``minip_brain.nii.gz`` is the brain) or
    ``images_dir/NAME.nii.gz`` (a MinIP alone: the brain is found automatically)."""
    labelme, images = Path(labelme_dir), Path(images_dir)
    for folder, what in ((labelme, "--labelme"), (images, "--images")):
        if not folder.is_dir():
            raise GlymphError(f"{what} {folder} is not a folder")
    found, missing = [], []
    for path in sorted(labelme.glob("*.json")):
        name = path.stem
        if (images / name / "minip.nii.gz").is_file():
            brain = images / name / "minip_brain.nii.gz"
            found.append(Annotation(name, path, images / name / "minip.nii.gz", brain if brain.is_file() else None))
        elif (images / f"{name}.nii.gz").is_file():
            found.append(Annotation(name, path, images / f"{name}.nii.gz", None))
        else:
            missing.append(name)
    if missing:
        raise GlymphError(
            f"no MinIP for the annotation(s) {', '.join(missing)}: put each subject's glymph vein result folder "
            f"(NAME/minip.nii.gz) or its MinIP (NAME.nii.gz) in {images}"
        )
    if len(found) < 2:
        raise GlymphError(
            f"{labelme} holds {len(found)} Labelme file(s) (NAME.json); fine-tuning needs at least 2 annotated "
            "subjects (one for validation)"
        )
    return found


def read_annotation(annotation: Annotation) -> Sample:
    """The annotated MinIP as a sample: divided by its brain median, its polygons as the truth."""
    from glymph.image_io import read_volume
    from glymph.masks import brain_mask_from_b0
    from glymph.vein.labelme import labelme_to_labels
    from glymph.vein.minip import plane_affine

    minip = read_volume(annotation.minip, "MinIP")
    if minip.data.ndim == 2:
        minip = minip.with_data(minip.data[:, :, None])
    if minip.data.ndim != 3 or minip.shape[2] != 1:
        raise GlymphError(f"{annotation.minip} is not a one-slice MinIP (minip.nii.gz written by glymph vein)")
    if annotation.brain is not None:
        brain = read_volume(annotation.brain, "MinIP brain mask").data[:, :, 0] > 0
    else:
        brain = brain_mask_from_b0(minip).data[:, :, 0]
    image = np.asarray(minip.data[:, :, 0], dtype=np.float32)
    median = float(np.median(image[brain])) if brain.any() else 0.0
    if median <= 0:
        raise GlymphError(f"{annotation.minip}: the MinIP is empty inside the brain")
    truth = labelme_to_labels(annotation.labelme, minip).data[:, :, 0] > 0
    pixel = float(np.sqrt(abs(np.linalg.det(plane_affine(minip.affine)[:2, :2]))))
    return annotated_sample(np.where(brain, image / median, 1.0).astype(np.float32), brain, pixel, truth & brain)


def initial_network(init: str, model_dir: str | os.PathLike | None = None):
    """The network fine-tuning starts from: ``"shipped"`` (the registered weights, looked for as
    the commands look for them) or a model folder made by ``glymph train vein``."""
    if init == "shipped":
        from glymph.models.loader import model_files

        return load_state(model_files(MODEL_ID, model_dir)[FILES[0]].parent), "shipped"
    folder = Path(init)
    if not folder.is_dir():
        raise GlymphError(f"--init {init} is neither 'shipped' nor a model folder")
    return load_state(folder), str(folder)


def finetune_vein(
    out: str | os.PathLike,
    labelme_dir: str | os.PathLike,
    images_dir: str | os.PathLike,
    init: str = "shipped",
    plan: FinetunePlan = FinetunePlan(),
    model_dir: str | os.PathLike | None = None,
) -> dict:
    """Fine-tune the vein network on Labelme annotations into the model folder ``out``: the
    subjects are split into training and validation (``plan.validation_fraction``, by a seeded
    shuffle); returns the validation Dice of the starting network, the tuned one and the classical
    method."""
    annotations = find_annotations(labelme_dir, images_dir)
    net, source = initial_network(init, model_dir)
    samples = [read_annotation(a) for a in annotations]
    order = np.random.default_rng(plan.seed).permutation(len(samples))
    n_validation = min(max(1, round(plan.validation_fraction * len(samples))), len(samples) - 1)
    held, used = order[:n_validation], order[n_validation:]
    validation = [samples[i] for i in held]
    before = validate(net, validation, classical=True)
    started = time.perf_counter()
    with step(f"fine-tuning the vein network on {len(used)} subject(s) ({plan.steps} steps)"):
        net = train_network(net, [samples[i] for i in used], plan, validation, every=max(plan.steps // 5, 1))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export(net, out)
    after = validate(net, validation)
    metrics = {
        "validation_subjects": sorted(annotations[i].name for i in held),
        "training_subjects": sorted(annotations[i].name for i in used),
        "pixel_dice": {"before": before["learned"], "after": after["learned"], "classical": before["classical"]},
        "training_minutes": round((time.perf_counter() - started) / 60, 1),
    }
    command = (
        f"glymph train vein --labelme {labelme_dir} --images {images_dir} --init {init} --out {out} "
        f"--steps {plan.steps} --seed {plan.seed}"
    )
    write_manifest(
        out, MODEL_ID, (*FILES, STATE), {**asdict(plan), "init": source, "command": command}, metrics, network=NETWORK
    )
    return metrics

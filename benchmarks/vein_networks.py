"""Which DeepLabV3+ encoder for the vein network: size of the weights and time per training step
on this CPU (what chose ``glymph.training.vein``'s MobileNetV2 with a 128-channel decoder).

Each candidate: segmentation-models-pytorch DeepLabV3+, 1 channel in, 1 out, no pretrained
weights; parameters x 4 bytes (float32 ONNX); the mean of 3 AdamW steps on a batch of 8 random crops.
Run: .venv/bin/python benchmarks/vein_networks.py
"""

from __future__ import annotations

from epvs_networks import seconds_per_step

CANDIDATES = [  # (encoder, decoder channels, crop size)
    ("resnet18", 256, 256),
    ("mobilenet_v2", 256, 256),
    ("timm-efficientnet-b0", 256, 256),
    ("resnet18", 128, 256),
    ("mobilenet_v2", 128, 192),
    ("mobilenet_v2", 64, 192),
    ("tu-mobilenetv3_large_100", 128, 192),
]


def main() -> None:
    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    for encoder, decoder, crop in CANDIDATES:
        net = smp.DeepLabV3Plus(
            encoder_name=encoder, encoder_weights=None, in_channels=1, classes=1, decoder_channels=decoder
        )
        parameters = sum(p.numel() for p in net.parameters())
        optimiser = torch.optim.AdamW(net.parameters(), 1e-3)
        seconds = seconds_per_step(net, optimiser, torch.randn(8, 1, crop, crop))
        print(
            f"{encoder:26s} decoder {decoder:3d}  {parameters / 1e6:5.2f} M parameters {parameters * 4 / 1e6:5.1f} MB  "
            f"{seconds:.2f} s per step of 8 crops of {crop}^2",
            flush=True,
        )


if __name__ == "__main__":
    main()

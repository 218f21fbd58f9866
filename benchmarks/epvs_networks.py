"""Which MONAI 3D network for the learned EPVS method: training-step and inference time on 2 cores.

Candidates at about the same size (2 inputs, 1 output, batch norm): UNet 16-128 and 8-64 channels
(one residual unit per level), SegResNet (8 filters), BasicUNet (8-64 features). Printed: parameters,
one Adam step on a batch of four 48^3 patches, one 96^3 window in evaluation mode; each as a ratio
to the UNet 16-128 that glymph uses (``glymph.training.epvs.epvs_unet``).
Run: .venv/bin/python benchmarks/epvs_networks.py [--threads N]
"""

from __future__ import annotations

import argparse
import time


def candidates() -> dict:
    from monai.networks.nets import BasicUNet, SegResNet, UNet

    from glymph.training.epvs import epvs_unet

    return {
        "UNet 16-128 (glymph)": epvs_unet,
        "UNet 8-64": lambda: UNet(3, 2, 1, channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=1, norm="batch"),
        "SegResNet 8": lambda: SegResNet(
            3, init_filters=8, in_channels=2, out_channels=1, blocks_down=(1, 2, 2), blocks_up=(1, 1), norm="batch"
        ),
        "BasicUNet 8-64": lambda: BasicUNet(3, 2, 1, features=(8, 16, 32, 64, 64, 8), norm="batch"),
    }


def seconds_per_step(net, optimiser, batch, repeats: int = 3) -> float:
    """Mean wall time (s) of ``repeats`` training steps of ``net`` on ``batch`` (loss: the output's mean)."""
    start = time.perf_counter()
    for _ in range(repeats):
        loss = net(batch).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch, window = torch.randn(4, 2, 48, 48, 48), torch.randn(1, 2, 96, 96, 96)
    rows = []
    for name, make in candidates().items():
        net = make()
        optimiser = torch.optim.Adam(net.parameters())
        net.train()
        net(batch).mean().backward()  # warm-up
        step = seconds_per_step(net, optimiser, batch)
        net.eval()
        with torch.no_grad():
            net(window)
            start = time.perf_counter()
            net(window)
            inference = time.perf_counter() - start
        rows.append((name, sum(p.numel() for p in net.parameters()), step, inference))
    base = rows[0]
    for name, parameters, step, inference in rows:
        print(
            f"{name:22s} {parameters:9,d} parameters  training step {step:5.2f} s ({step / base[2]:.2f}x)  "
            f"96^3 window {inference:5.2f} s ({inference / base[3]:.2f}x)"
        )


if __name__ == "__main__":
    main()

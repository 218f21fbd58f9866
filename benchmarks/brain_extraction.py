"""deepbet brain extraction through glymph's inference code: time and agreement, for the model card.

On Colin27 (1 mm head, Debian mricron-data) against deepbet's own `run_bet` (same networks, its
own code, run in this process) and the BET mask shipped beside it; on the ITK example head
(2x2x3 mm, coronal storage, Debian insighttoolkit5-examples) against its skull strip.
Run: .venv/bin/python benchmarks/brain_extraction.py
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np

from glymph.image_io import read_volume
from glymph.models.deepbet import brain_mask_deepbet

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
ITK = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def best_time(run, repeats: int = 3):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    from deepbet import BrainExtraction

    brain_mask_deepbet(read_volume(COLIN27))  # warm-up: load the networks once
    t1 = read_volume(COLIN27)
    ours_s, (mask, _) = best_time(lambda: brain_mask_deepbet(t1))
    extractor = BrainExtraction(no_gpu=True)
    theirs_s, (_, reference, _) = best_time(lambda: extractor.run(nib.load(COLIN27)))
    bet = read_volume(COLIN27.with_name("ch2bet.nii.gz")).data > 0
    print(
        f"Colin27: glymph {ours_s:.1f} s, deepbet run_bet {theirs_s:.1f} s; Dice with run_bet {dice(mask.data, np.asarray(reference.dataobj) > 0):.3f}, with ch2bet {dice(mask.data, bet):.3f}"
    )
    head = read_volume(ITK / "KmeansTest_T1UCharRaw.nii.gz")
    seconds, (mask, _) = best_time(lambda: brain_mask_deepbet(head))
    strip = read_volume(ITK / "KmeansTest_T1RawSkullStrip.nii.gz").data > 0
    print(f"ITK head: glymph {seconds:.1f} s; Dice with its skull strip {dice(mask.data, strip):.3f}")


if __name__ == "__main__":
    main()

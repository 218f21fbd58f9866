"""Draw the module and extension icons from the shipped MNI152 template (maintainer tool).

The ALPS icon is an axial slice of the white-matter map at the ROI level, tinted like a
colour-FA map, with the four ALPS spheres. Run: .venv/bin/python tools/make_icons.py
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

from glymph.defaults import ROI_SETS
from glymph.templates import mni152

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def icon(path: Path, xlim: tuple[float, float], ylim: tuple[float, float]) -> Iterator[plt.Axes]:
    """Axes filling a transparent 128 x 128 pixel figure, saved to ``path`` showing ``xlim`` x ``ylim`` (mm)."""
    fig = plt.figure(figsize=(1.28, 1.28), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    yield ax
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    fig.savefig(path, transparent=True)
    plt.close(fig)


def alps_icon(path: Path) -> None:
    t = mni152()
    k = round(t.wm.world_to_voxel(np.array([0.0, 0.0, 24.0]))[2])
    wm = t.wm.data[:, :, k].T
    x = np.linspace(-90, 90, wm.shape[1])
    lateral = np.clip((np.abs(x)[None, :] - 18) / 20, 0, 1)
    rgb = np.stack([0.35 * (1 - lateral), 0.25 + 0.75 * lateral, 1 - lateral], axis=-1) * wm[..., None]
    with icon(path, (75, -75), (-100, 70)) as ax:
        ax.imshow(rgb[::-1, ::-1], extent=(90, -90, -126, 90))  # radiological: subject right on the left
        for label, (cx, cy, _) in ROI_SETS["chen2025"].items():
            colour = "white" if label.startswith("proj") else "yellow"
            ax.add_patch(Circle((cx, cy), 6, fill=False, lw=1.6, color=colour))


def epvs_icon(path: Path) -> None:
    """Axial T1 at the basal ganglia, their outline in yellow, a few perivascular spaces in red."""
    from glymph.epvs.regions import regions_mni

    t = mni152()
    k = round(t.t1.world_to_voxel(np.array([0.0, 0.0, 4.0]))[2])
    regions = regions_mni()
    kr = round(regions.world_to_voxel(np.array([0.0, 0.0, 4.0]))[2])
    with icon(path, (70, -70), (-60, 70)) as ax:
        ax.imshow(t.t1.data[:, :, k].T[::-1, ::-1], cmap="gray", extent=(90, -90, -126, 90))
        ax.contour(
            np.linspace(-91, 90, regions.shape[0]),
            np.linspace(-126, 91, regions.shape[1]),
            (regions.data[:, :, kr] == 1).T.astype(float),
            [0.5],
            colors="yellow",
            linewidths=1.0,
        )
        for x, y in ((-22, 4), (-26, -2), (-18, 10), (22, 2), (27, -4), (19, 9)):
            ax.plot([x, x + 1.5], [y - 4, y + 4], color="red", lw=2.2, solid_capstyle="round")


def vein_icon(path: Path) -> None:
    """A dark MinIP-like axial slice with wavy superficial veins and the mid-line."""
    t = mni152()
    k = round(t.t1.world_to_voxel(np.array([0.0, 0.0, 30.0]))[2])
    rng = np.random.default_rng(3)
    with icon(path, (75, -75), (-100, 75)) as ax:
        ax.imshow(
            0.55 + 0.35 * t.wm.data[:, :, k].T[::-1, ::-1], cmap="gray", vmin=0, vmax=1, extent=(90, -90, -126, 90)
        )
        for side in (-1, 1):
            for y in (-50, -10, 30):
                s = np.linspace(0, 1, 60)
                x = side * (55 + 6 * np.sin(s * 9 + rng.uniform(0, 6)))
                ax.plot(x, y + 30 * s, color="black" if side < 0 else "#202020", lw=2)
        ax.plot([0, 0], [-110, 80], color="cyan", lw=1, ls="--")


if __name__ == "__main__":
    alps_icon(ROOT / "ALPSModule" / "Resources" / "Icons" / "ALPS.png")
    epvs_icon(ROOT / "EPVSModule" / "Resources" / "Icons" / "EPVS.png")
    vein_icon(ROOT / "VeinModule" / "Resources" / "Icons" / "Vein.png")
    alps_icon(ROOT / "glymph.png")

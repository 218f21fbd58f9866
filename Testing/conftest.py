"""Shared fixtures: phantoms with known truth, real data locations, reference tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glymph.image_io import read_volume
from glymph.phantoms import HeadPose, alps_phantom, epvs_phantom, write_fsl
from glymph.registration import AffineMap

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIRS = [ROOT / name for name in ("ALPSModule", "EPVSModule", "VeinModule")]
sys.path[:0] = [str(d) for d in MODULE_DIRS]  # the modules' Lib packages, as Slicer puts them on sys.path

# CI sets this so that a missing reference tool (MRtrix3, mricron-data) fails instead of skipping.
REQUIRE_REFERENCES = os.environ.get("GLYMPH_REQUIRE_REFERENCES") == "1"
MRICRON = Path("/usr/share/mricron/templates")
JHU_LABELS = MRICRON / "JHU-WhiteMatter-labels-1mm.nii.gz"
AAL_LABELS = MRICRON / "aal.nii.gz"
COLIN27 = MRICRON / "ch2.nii.gz"
ITK_DATA = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
ITK_T1 = ITK_DATA / "KmeansTest_T1UCharRaw.nii.gz"


TOOL_PACKAGES = {"dwi2tensor": "mrtrix3", "mrconvert": "mrtrix3", "cmake": "cmake"}


def run_batch_script(script: Path, *args: object) -> subprocess.CompletedProcess:
    """Run a module's batch script with this Python, as ``Slicer --python-script script -- args``."""
    return subprocess.run([sys.executable, str(script), "--", *map(str, args)], capture_output=True, text=True)


def poll_task(task, timeout: float = 300.0) -> list[str]:
    """Poll a panel task (``BackgroundTask`` or ``ProcessTask``) as the widget's timer does, until it
    is done: the progress lines seen."""
    import time

    seen, started = [], time.monotonic()
    while not task.done:
        seen += task.messages()
        assert time.monotonic() - started < timeout, f"still running after {timeout} s: {seen}"
        time.sleep(0.05)
    return seen + task.messages()


HELD_COMMAND = """
import logging, runpy, sys, threading, time

class HoldAfter(logging.Filter):
    # lets the first progress line containing {message!r} out, then holds the command at its next
    # line, so that a cancel sent on that first line always finds the command working; only the
    # main thread is held: a worker thread held would keep the interpreter from exiting on the cancel
    seen = False

    def filter(self, record):
        if HoldAfter.seen and threading.current_thread() is threading.main_thread():
            time.sleep({seconds})
        HoldAfter.seen = HoldAfter.seen or {message!r} in record.getMessage()
        return True

logging.getLogger("glymph").addFilter(HoldAfter())
sys.argv = [sys.argv[2], *sys.argv[3:]]  # called as: held.py -m glymph.cli ARGS
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def held_python(folder: Path, message: str, seconds: float = 120.0) -> str:
    """An interpreter for a panel's ``start_process(python=...)`` that runs the real ``glymph``
    command but holds it for ``seconds`` once it has printed a progress line containing ``message``.
    On a busy machine a short command can otherwise end before a cancel sent on that line arrives."""
    script = folder / "held.py"
    script.write_text(HELD_COMMAND.format(message=message, seconds=seconds))
    launcher = folder / "held-python"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def cancel_when(task, message: str, timeout: float = 300.0) -> list[str]:
    """Wait until a progress line contains ``message`` (the command is working), then cancel it and
    poll it to the end; the progress lines seen. The cancel waits up to 60 s (a panel waits 10 s)
    before it kills: on a busy machine the command may be inside one long C call when it arrives,
    and the test is whether the command handles the cancel, not how fast."""
    import time

    seen, started = [], time.monotonic()
    while not any(message in line for line in seen):
        seen += task.messages()
        assert not task.done and time.monotonic() - started < timeout, f"never reached '{message}': {seen}"
        time.sleep(0.05)
    task.cancel(timeout=60.0)
    return seen + poll_task(task)


def require_tool(name: str) -> str:
    """Path of a reference command-line tool, or skip (fail under CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_REFERENCES:
            pytest.fail(
                f"reference tool {name} is not installed (Debian package {TOOL_PACKAGES.get(name, name)}; `make test` installs it as root)"
            )
        pytest.skip(f"{name} not installed")
    return path


def require_module(name: str, module_level: bool = False):
    """Import an optional package (torch; slicer and vtk from the slicer-core wheel), or skip the
    test (or, ``module_level``, the whole file) when it is missing; under CI, fail instead."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"{name} is not installed (`make test` installs glymph[test,models])"
        if REQUIRE_REFERENCES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=module_level)


def pytest_sessionfinish(session, exitstatus):
    """Under CI (``GLYMPH_REQUIRE_REFERENCES=1``) a skipped test fails the run, whatever skipped it."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if REQUIRE_REFERENCES and skipped and session.exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"GLYMPH_REQUIRE_REFERENCES=1: {len(skipped)} skipped test(s) fail the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require_file(path: Path) -> Path:
    if not path.exists():
        if REQUIRE_REFERENCES:
            pytest.fail(
                f"reference data {path} missing (Debian packages mricron-data, insighttoolkit5-examples; `make test` installs them as root)"
            )
        pytest.skip(f"{path} not installed")
    return path


@pytest.fixture(scope="session")
def small_64d() -> tuple[str, str, str]:
    """dipy's real 10x10x10 crop with 64 directions (b0 b-vector NaN; one b-vector per row)."""
    from dipy.data import get_fnames

    return tuple(get_fnames(name="small_64D"))  # type: ignore[return-value]


@pytest.fixture(scope="session")
def clean_phantom():
    """Noise-free phantom, upright head, 2.5 mm: the index must come out exactly."""
    return alps_phantom(alps_left=1.3, alps_right=1.6, voxel_mm=2.5, n_directions=20, snr=np.inf)


@pytest.fixture(scope="session")
def clean_result(clean_phantom):
    """``run_alps`` on the clean phantom (image frame reported; both frames computed), run once."""
    from glymph.alps import run_alps

    return run_alps(clean_phantom.dwi)


@pytest.fixture(scope="session")
def tilted_phantom():
    """Noise-free phantom with the head nodded 15 degrees and shifted/scaled."""
    pose = HeadPose(tilt_deg=(15.0, 0.0, 0.0), shift_mm=(3.0, -5.0, 8.0), scale=1.05)
    return alps_phantom(alps_left=1.3, alps_right=1.6, pose=pose, voxel_mm=2.5, n_directions=20, snr=np.inf)


@pytest.fixture(scope="session")
def noisy_phantom_files(tmp_path_factory):
    """A realistic phantom (tilted head, Rician noise, SNR 30) written as NIfTI + FSL files, LAS storage."""
    pose = HeadPose(tilt_deg=(6.0, -4.0, 3.0), shift_mm=(2.0, -4.0, 6.0), scale=0.97)
    phantom = alps_phantom(alps_left=1.3, alps_right=1.6, pose=pose, voxel_mm=2.5, n_directions=30, snr=30.0, seed=3)
    folder = tmp_path_factory.mktemp("phantom")
    paths = write_fsl(phantom.dwi, str(folder / "dwi.nii.gz"), storage="LAS")
    return phantom, paths


@pytest.fixture(scope="session")
def noisy_alps_run(noisy_phantom_files, tmp_path_factory):
    """One real `glymph alps` run on the noisy phantom through the installed console script
    (anatomical frame; the sidecar holds both): (phantom, result folder, the finished process)."""
    phantom, (image, _, _) = noisy_phantom_files
    out = tmp_path_factory.mktemp("run") / "alps"
    glymph = str(Path(sys.executable).with_name("glymph"))
    argv = [glymph, "alps", image, "--out", str(out), "--subject", "sub-01", "--frame", "anatomical"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return phantom, out, done


@pytest.fixture(scope="session")
def colin_deepbet():
    """Colin27 T1, and its deepbet brain mask with the networks' provenance (run once)."""
    require_module("torch")
    from glymph.models.deepbet import brain_mask_deepbet

    t1 = read_volume(require_file(COLIN27))
    return t1, brain_mask_deepbet(t1)


@pytest.fixture(scope="session")
def colin(colin_deepbet):
    """Colin27 T1 and its deepbet brain mask."""
    t1, (mask, _) = colin_deepbet
    return t1, mask


@pytest.fixture(scope="session")
def colin_phantom(colin):
    """Lesions placed by the AAL atlas and the generator's own tissue classes (Colin27 is in MNI space)."""
    from references import aal_placement

    t1, mask = colin
    require_file(AAL_LABELS)
    return epvs_phantom(t1, mask, AffineMap(np.eye(4)), aal_placement(t1, AffineMap(np.eye(4))), seed=2)


@pytest.fixture(scope="session")
def colin_result(colin_phantom):
    """The classical EPVS pipeline on the Colin27 phantom with its brain mask (run once for the session)."""
    from glymph.epvs import run_epvs

    return run_epvs(colin_phantom.t1, mask=colin_phantom.brain_mask, subject="colin-2", method="classical")


@pytest.fixture(scope="session")
def swi_seed3():
    """An SWI phantom on a held-out seed (the vein thresholds were set on seed 1), head turned 6 degrees."""
    from glymph.phantoms import swi_phantom

    return swi_phantom(seed=3)


@pytest.fixture(scope="session")
def vein_result(swi_seed3):
    """``run_vein`` on ``swi_seed3``, run once."""
    from glymph.vein import run_vein

    return run_vein(swi_seed3.swi, subject="seed-3")

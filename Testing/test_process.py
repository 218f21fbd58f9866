"""A glymph command in its own process, as the module panels run networks: progress as it comes,
cancel (the process ends, nothing is written), errors, and the result folder read back."""

from __future__ import annotations

import json
import time

import pytest

from glymph.alps import read_alps
from glymph.errors import GlymphError
from glymph.process import CommandProcess


def follow(process: CommandProcess, until=None, timeout: float = 300.0) -> list[str]:
    """Poll as a GUI timer would; the progress messages seen (stop early once ``until`` is seen)."""
    seen, start = [], time.monotonic()
    while not process.done and time.monotonic() - start < timeout:
        seen += process.messages()
        if until and any(until in message for message in seen):
            break
        time.sleep(0.05)
    return seen + process.messages()


def test_progress_comes_as_the_command_runs_and_the_result_reads_back(noisy_phantom_files, tmp_path):
    image = noisy_phantom_files[1][0]
    out = tmp_path / "alps"
    process = CommandProcess(["alps", image, "--out", str(out), "--frame", "anatomical"]).start()
    assert not process.done and process.returncode is None
    seen = follow(process)
    assert process.returncode == 0 and process.error is None
    assert any(m.startswith("fitting tensors") for m in seen) and any("registration" in m for m in seen)
    assert seen.index(next(m for m in seen if m.startswith("fitting tensors"))) < len(seen) - 1
    assert any("ALPS left" in line for line in process.output)
    result = read_alps(out)
    written = json.loads((out / "alps.json").read_text())["alps"]
    assert result.frame == "anatomical" and result.registration is not None
    for frame, index in (("image", result.image), ("anatomical", result.anatomical)):
        assert index.alps_L == pytest.approx(written[frame]["alps_L"], rel=1e-6)
        assert index.alps_R == pytest.approx(written[frame]["alps_R"], rel=1e-6)


def test_cancel_ends_the_process_and_writes_nothing(noisy_phantom_files, tmp_path):
    """Cancelled during the registration, the command stops as on Ctrl-C (status 130) and neither
    the result folder nor a half-written one is left."""
    out = tmp_path / "out"
    process = CommandProcess(["alps", noisy_phantom_files[1][0], "--out", str(out)]).start()
    follow(process, until="affine registration")
    assert process.returncode is None  # still working
    process.cancel()
    assert process.done and process.returncode == 130
    assert list(tmp_path.iterdir()) == []


def test_a_user_error_comes_back_as_its_one_line(tmp_path):
    process = CommandProcess(["alps", str(tmp_path / "none.nii.gz"), "--out", str(tmp_path / "out")]).start()
    assert process.wait(60) == 2
    assert process.error.startswith("DWI not found:") and "Traceback" not in process.error
    assert not (tmp_path / "out").exists()


def test_reading_a_folder_that_is_not_an_alps_result_is_an_error(tmp_path):
    with pytest.raises(GlymphError, match="not a complete ALPS result folder"):
        read_alps(tmp_path)

"""Result folders written atomically, with provenance sidecars.

All files of a run are written into a hidden temporary folder beside ``out`` and moved in only
when every one of them is complete, so a failure leaves nothing half-written. Files from an
earlier run are never replaced unless the caller asks for it (``force``, the CLI's ``--force``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from glymph.errors import GlymphError
from glymph.progress import step

# every package a result can depend on; the sidecar records each one's version, or "not installed"
SOFTWARE = (
    "numpy",
    "scipy",
    "nibabel",
    "pynrrd",
    "SimpleITK",
    "dipy",
    "scikit-image",
    "isal",
    "networkx",
    "matplotlib",
    "torch",
    "deepbet",
    "onnxruntime",
    "monai",
)


def check_out_dir(out: str | os.PathLike, names: tuple[str, ...], force: bool) -> Path:
    """Fail early, before any work, if ``out`` cannot take these result files."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GlymphError(f"--out {out} exists and is not a folder")
    existing = [name for name in names if (out / name).exists()]
    if existing and not force:
        raise GlymphError(
            f"{out} already holds results ({', '.join(existing)}); choose another --out or pass --force to replace them"
        )
    parent = out.resolve().parent
    if not parent.exists():
        raise GlymphError(f"the parent folder of --out {out} does not exist")
    if not os.access(parent, os.W_OK):
        raise GlymphError(f"cannot write to {parent}")
    return out


@contextmanager
def atomic_out_dir(out: str | os.PathLike, names: tuple[str, ...], force: bool) -> Iterator[Path]:
    """Yield a temporary folder to write ``names`` into; on success move them into ``out``."""
    out = check_out_dir(out, names, force)
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        yield staging
        written = [name for name in names if (staging / name).exists()]
        missing = sorted(set(names) - set(written))
        if missing:
            raise RuntimeError(f"result files were not written: {', '.join(missing)}")
        with _uninterrupted():
            out.mkdir(exist_ok=True)
            for name in written:
                os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while finished results move into place (a few renames), so that a
    cancel cannot leave half of them; a signal that came meanwhile is handled right after."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def result_folder(out: str | os.PathLike, names: tuple[str, ...], force: bool) -> Iterator[Path]:
    """``atomic_out_dir`` logged as the step "writing results to OUT": what every result writer opens."""
    with step(f"writing results to {out}"), atomic_out_dir(out, names, force) as staging:
        yield staging


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    """Rows as a CSV file (columns: ``columns`` or the first row's keys). Not atomic on its own."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path, text_columns: tuple[str, ...] = ("subject",)) -> list[dict[str, object]]:
    """Rows of a CSV file written by ``write_csv``: the values of ``text_columns`` as strings, the
    others as int when they are whole numbers written as such, else float (``nan`` included)."""
    import csv

    def number(text: str) -> object:
        try:
            return int(text)
        except ValueError:
            return float(text)

    with open(path, newline="") as f:
        return [
            {key: value if key in text_columns else number(value) for key, value in row.items()}
            for row in csv.DictReader(f)
        ]


def write_sidecar(
    path: Path,
    command: str,
    started: float,
    inputs: dict | None,
    parameters: dict | None,
    models: dict | None = None,
    **results,
) -> None:
    """Write the JSON sidecar of a result folder: command, time stamp, inputs (paths, SHA-256),
    parameters, the results, software versions, models used (name, files, checksums) and the time
    taken. Not atomic on its own (write it inside ``atomic_out_dir``)."""
    import json
    import time

    document = {
        "command": command,
        "created": timestamp(),
        "inputs": inputs or {},
        "parameters": parameters or {},
        **results,
        "software": software_versions(),
        "models": models or {},
        "time_s": round(time.perf_counter() - started, 2),
    }
    Path(path).write_text(json.dumps(document, indent=2, default=float))


def write_table(rows: list[dict], path: Path, extra: dict | None = None) -> None:
    """Write rows as CSV (``.csv``) or, with ``extra`` keys, JSON (``.json``), atomically."""
    import json

    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if path.suffix == ".json":
            partial.write_text(json.dumps({"rows": rows, **(extra or {})}, indent=2))
        else:
            write_csv(partial, rows)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (for the provenance of inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_inputs(paths: dict[str, str | os.PathLike | None]) -> dict:
    """Absolute path and SHA-256 of each given input file."""
    return {name: {"path": str(Path(p).resolve()), "sha256": sha256(p)} for name, p in paths.items() if p is not None}


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    from glymph import __version__

    versions = {"glymph": __version__, "python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

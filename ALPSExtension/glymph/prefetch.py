"""Reading a gzipped image ahead, on a thread, while a command imports and checks what it needs.

ISA-L releases the GIL while it decompresses, and decompressing a 100 MB .nii.gz DWI takes about as
long as the imports that come before reading it, so the two overlap. Only the standard library and
``isal`` are imported here (and in ``glymph.parallel``), so the reading starts before numpy is loaded.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

from glymph.parallel import in_background

_AHEAD: dict[tuple[str, int, int], Future[bytes]] = {}


def read_ahead(path: str | os.PathLike) -> None:
    """Start reading and decompressing ``path`` (a .nii.gz file) on a thread; ``take`` returns the
    bytes. Anything else, or a missing file, is left to be read (and reported) as usual."""
    key = _file_key(Path(path))
    if key is None or not Path(path).name.lower().endswith(".nii.gz") or key in _AHEAD:
        return
    _AHEAD[key] = in_background(_decompressed, Path(path))


def take(path: str | os.PathLike) -> bytes | None:
    """The decompressed bytes of ``path`` if ``read_ahead`` started on this unchanged file (waits for
    them; raises what reading raised), else None. Each read-ahead is taken once."""
    ahead = _AHEAD.pop(_file_key(Path(path)), None)  # type: ignore[arg-type]
    return None if ahead is None else ahead.result()


def _decompressed(path: Path) -> bytes:
    from isal import igzip

    return igzip.decompress(path.read_bytes())


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)

"""Reading a gzipped image ahead, on a thread, while a command imports and checks what it needs.

ISA-L releases the GIL while it decompresses, and decompressing a 100 MB .nii.gz DWI takes about as
long as the imports that come before reading it, so the two overlap. The file is decompressed in
pieces, so that its beginning (a DWI's first volumes, where scanners put the b0s) can be used
before the end is read (``Reading.prefix``). Only the standard library and ``isal`` are imported
here, so the reading starts before numpy is loaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PIECE_BYTES = 4 << 20  # decompressed bytes handed over at a time

_AHEAD: dict[tuple[str, int, int], Reading] = {}


class Reading:
    """One file being decompressed on a daemon thread (a command that stops early does not wait)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pieces: list[bytes] = []
        self._size = 0
        self._finished = False
        self._failed = False
        self._progress = threading.Condition()
        threading.Thread(target=self._run, name="glymph-read-ahead", daemon=True).start()

    def _run(self) -> None:
        try:
            from isal import igzip

            with igzip.open(self._path, "rb") as stream:  # checks the CRC; several gzip members read as one
                while piece := stream.read(PIECE_BYTES):
                    with self._progress:
                        self._pieces.append(piece)
                        self._size += len(piece)
                        self._progress.notify_all()
        except Exception:  # a damaged file is read again, and reported, the usual way
            self._failed = True
        finally:
            with self._progress:
                self._finished = True
                self._progress.notify_all()

    def _wait_for(self, size: int | None) -> bool:
        with self._progress:
            self._progress.wait_for(lambda: self._finished or (size is not None and self._size >= size))
            return not self._failed and (size is None or self._size >= size)

    def prefix(self, size: int) -> bytes | None:
        """The first ``size`` decompressed bytes, as soon as they are read; None if the file is
        shorter or damaged."""
        if not self._wait_for(size):
            return None
        with self._progress:
            pieces, total = [], 0
            for piece in self._pieces:
                if total >= size:
                    break
                pieces.append(piece)
                total += len(piece)
        return b"".join(pieces)[:size]

    def whole(self) -> bytes | None:
        """All the decompressed bytes, once read; None if the file is damaged."""
        if not self._wait_for(None):
            return None
        return b"".join(self._pieces)


def read_ahead(path: str | os.PathLike) -> None:
    """Start decompressing ``path`` (a .nii.gz file) on a thread; ``take`` returns its bytes and
    ``ahead`` the reading itself. Anything else, or a missing file, is left to be read (and
    reported) as usual."""
    key = _file_key(Path(path))
    if key is None or not Path(path).name.lower().endswith(".nii.gz") or key in _AHEAD:
        return
    _AHEAD[key] = Reading(Path(path))


def ahead(path: str | os.PathLike) -> Reading | None:
    """The reading ``read_ahead`` started on this unchanged file (its beginning can be read before its end), or None."""
    return _AHEAD.get(_file_key(Path(path)))  # type: ignore[arg-type]


def take(path: str | os.PathLike) -> bytes | None:
    """The decompressed bytes of ``path`` if ``read_ahead`` started on this unchanged file (waits for
    them), else None, also when reading it failed. Each read-ahead is taken once."""
    reading = _AHEAD.pop(_file_key(Path(path)), None)  # type: ignore[arg-type]
    return None if reading is None else reading.whole()


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)

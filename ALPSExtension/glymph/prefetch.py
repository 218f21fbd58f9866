"""Reading a gzipped image ahead, on a thread, while a command imports and checks what it needs.

Decompressing a 100 MB .nii.gz DWI takes about as long as the imports that come before reading
it, so the two overlap. The file is decompressed in one call to ISA-L (``isal``), which holds no
lock while it works: decompressing piece by piece instead hands the interpreter lock back and
forth with the importing thread at every piece and took half as long again. A caller that needs
the file's beginning early (a DWI's first volumes, where scanners put the b0s: ``Reading.prefix``)
decompresses that beginning itself, a second time, on its own core. Only the standard library and
``isal`` are imported here, so the reading starts before numpy is loaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PREFIX_INPUT_BYTES = 1 << 20  # compressed bytes fed at a time when decompressing a beginning

_AHEAD: dict[tuple[str, int, int], Reading] = {}


class Reading:
    """One file being decompressed on a daemon thread (a command that stops early does not wait)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._compressed: bytes | None = None
        self._whole: bytes | None = None
        self._loaded = threading.Event()  # the compressed bytes are in memory (or failed to be)
        self._finished = threading.Event()
        threading.Thread(target=self._run, name="glymph-read-ahead", daemon=True).start()

    def _run(self) -> None:
        try:
            self._compressed = self._path.read_bytes()
            self._loaded.set()
            from isal import igzip

            self._whole = igzip.decompress(self._compressed)  # checks the CRC; several gzip members read as one
        except Exception:  # a damaged file is read again, and reported, the usual way
            self._whole = None
        finally:
            self._compressed = None  # from now on a beginning is cut from the whole (100 MB less held)
            self._loaded.set()
            self._finished.set()

    def prefix(self, size: int) -> bytes | None:
        """The first ``size`` decompressed bytes, decompressed now on the calling thread if the
        whole file is not ready yet; None if the file is shorter or damaged."""
        self._loaded.wait()
        compressed = self._compressed
        if compressed is None:  # decompressed already, or unreadable
            self._finished.wait()
            return None if self._whole is None or len(self._whole) < size else self._whole[:size]
        try:
            return _decompressed_beginning(compressed, size)
        except Exception:
            return None

    def whole(self) -> bytes | None:
        """All the decompressed bytes, once read; None if the file is damaged."""
        self._finished.wait()
        return self._whole


def _decompressed_beginning(compressed: bytes, size: int) -> bytes | None:
    """The first ``size`` bytes of gzip data (several members read as one); None if it is shorter."""
    from isal import isal_zlib

    view, position = memoryview(compressed), 0
    decoder, left_over = isal_zlib.decompressobj(wbits=31), b""
    pieces, have = [], 0
    while have < size:
        if left_over:  # the beginning of the next gzip member
            data, left_over = left_over, b""
        elif position < len(view):
            data = view[position : position + PREFIX_INPUT_BYTES]
            position += len(data)
        else:
            return None
        piece = decoder.decompress(data)
        pieces.append(piece)
        have += len(piece)
        if decoder.eof:
            decoder, left_over = isal_zlib.decompressobj(wbits=31), decoder.unused_data
    return b"".join(pieces)[:size]


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

"""The readers by suffix, and the one guarded way to call them.

A new format is one :class:`~sparseg.data.readers.base.Reader` subclass and one entry in
``READERS``; ``tests/data/test_reader_contract.py`` then feeds it the same bad files as the
others (one line in its ``FORMATS`` table).
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sparseg.data.readers.base import Reader, file_suffix
from sparseg.data.readers.dicom import DicomReader
from sparseg.data.readers.nifti import NiftiReader
from sparseg.data.readers.pillow import PillowReader
from sparseg.data.readers.tiff import TiffReader
from sparseg.errors import SparsegError, SparsegWarning

READERS: tuple[type[Reader], ...] = (PillowReader, TiffReader, DicomReader, NiftiReader)

_BY_SUFFIX: dict[str, Reader] = {
    suffix: reader() for reader in READERS for suffix in reader.suffixes
}
INPUT_SUFFIXES = tuple(_BY_SUFFIX)
"""Every suffix a data set, a prediction input or a prediction folder may hold."""
_LOGGERS = tuple(dict.fromkeys(name for reader in READERS for name in reader.loggers))

T = TypeVar("T")


def reader_for(path: Path) -> Reader:
    """The reader of ``path``'s suffix; an unknown suffix is one line naming the file."""
    suffix = file_suffix(path)
    if suffix not in _BY_SUFFIX:
        raise SparsegError(
            f"{path}: not a file format sparseg reads (suffixes {', '.join(INPUT_SUFFIXES)})"
        )
    return _BY_SUFFIX[suffix]


def read_with(path: Path, read: Callable[[Reader], T], warn: bool = True) -> T:
    """``read(reader_for(path))``, with every failure turned into one line naming the file, and
    the decoders' own warnings and log lines (tifffile logs one per damaged tag: hundreds) into
    one warning (none with ``warn=False``: a probe whose file is read again)."""
    path = Path(path)
    reader = reader_for(path)
    noise: list[str] = []
    try:
        if path.stat().st_size == 0:
            raise SparsegError(f"{path}: empty file (0 bytes)")
        with _decoder_noise(noise):
            result = read(reader)
    except SparsegError:
        raise
    except FileNotFoundError:
        problem = "broken symbolic link" if path.is_symlink() else "file not found"
        raise SparsegError(f"{path}: {problem}") from None
    except PermissionError:
        raise SparsegError(f"{path}: permission denied") from None
    except reader.not_format:
        raise SparsegError(f"{path}: not a recognised {path.suffix} image file") from None
    except IsADirectoryError:
        raise SparsegError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SparsegError(f"{path}: symbolic link loop") from None
        raise SparsegError(f"{path}: cannot read image ({_reason(exc)})") from None
    # Decoders raise arbitrary types (ValueError, SyntaxError, struct.error, ...) on corrupt
    # bytes; all of them mean "this file is not a readable image".
    except Exception as exc:
        raise SparsegError(f"{path}: cannot read image ({_reason(exc)})") from None
    if noise and warn:
        more = f" and {len(noise) - 1} more" if len(noise) > 1 else ""
        warnings.warn(
            f"{path}: read, but the decoder complained ({noise[0]}{more}); the file may be damaged",
            SparsegWarning,
            stacklevel=3,
        )
    return result


@contextmanager
def _decoder_noise(messages: list[str]) -> Iterator[None]:
    """Collect what the decoders warn or log while reading one file."""
    handler = logging.handlers.BufferingHandler(capacity=sys.maxsize)
    handler.setLevel(logging.WARNING)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for logger, before in zip(loggers, propagate, strict=True):
            logger.removeHandler(handler)
            logger.propagate = before
    messages.extend(_reason_text(record.getMessage()) for record in handler.buffer)
    messages.extend(_reason_text(str(warning.message)) for warning in caught)


def _reason_text(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _reason(exc: BaseException) -> str:
    return _reason_text(str(exc)) or type(exc).__name__

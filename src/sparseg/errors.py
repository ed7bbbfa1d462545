"""The one exception type that reaches the user as a single clear line (exit code 2)."""

from __future__ import annotations


class SparsegError(Exception):
    """Bad input or usage: the message names the file or key and what is wrong.

    The CLI prints ``error: <message>`` on one line and exits with code 2; any other
    exception is a bug (exit code 1, traceback only with ``--debug``).
    """


class SparsegWarning(UserWarning):
    """Suspicious but usable input (e.g. every mask is empty)."""

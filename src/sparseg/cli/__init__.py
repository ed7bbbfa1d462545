# ruff: noqa: I001
"""The ``sparseg`` command line (typer). Each command parses its options and calls one library
function; bad input surfaces as one ``error:`` line on stderr with exit code 2.

Heavy libraries (torch, smp) are imported inside the commands that need them, so ``--help`` and
the data commands answer in well under a second.
"""

from __future__ import annotations

import sys
import traceback
import warnings

from sparseg.cli.app import app, err
from sparseg.errors import SparsegError, SparsegWarning

# Registration order is the order `sparseg --help` lists the commands: the data's path.
from sparseg.cli import data_commands
from sparseg.cli import pretrain_commands
from sparseg.cli import train_commands
from sparseg.cli import infer_commands
from sparseg.cli import evidence_commands

__all__ = ["app", "main"]
COMMAND_MODULES = (
    data_commands,
    pretrain_commands,
    train_commands,
    infer_commands,
    evidence_commands,
)
_default_showwarning = warnings.showwarning
INTERRUPTED = 130  # the shell's code for SIGINT


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line and exit 2 for bad input, exit 1 for a bug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    with warnings.catch_warnings():
        warnings.simplefilter("always", SparsegWarning)
        warnings.showwarning = _show_warning
        try:
            # Without standalone mode, typer *returns* the code of typer.Exit and of Ctrl-C (130).
            code = app(args=args, prog_name="sparseg", standalone_mode=False)
        except SparsegError as exc:
            _fail(exc, debug, f"error: {exc}", 2)
        except KeyboardInterrupt:
            _fail(None, debug, "interrupted", INTERRUPTED)
        except Exception as exc:
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors
                exc.show()
                sys.exit(exc.exit_code)
            # a bug: one short line unless --debug
            _fail(
                exc, debug, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", 1
            )
        if code == INTERRUPTED:
            _fail(None, debug, "interrupted", INTERRUPTED)
        if isinstance(code, int) and code != 0:
            sys.exit(code)


def _fail(exc: BaseException | None, debug: bool, line: str, code: int) -> None:
    if debug and exc is not None:
        traceback.print_exception(exc)
    err.print(line, markup=False, highlight=False)
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, SparsegWarning):
        err.print(f"warning: {message}", markup=False, highlight=False)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


if __name__ == "__main__":
    main()

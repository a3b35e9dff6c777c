"""The ``bpnet-xp`` command: train, evaluate, predict, gradcheck, backends.

Run ``bpnet-xp --help`` (or ``python -m bpnet_xp --help``) for the overview and
``bpnet-xp COMMAND --help`` for each command.  With no options, ``bpnet-xp train``
trains the classic 64-25-10 sigmoid network (cross-entropy, L2 lambda = 1) on the
bundled digits, standardised, with 100 iterations of conjugate gradient in
float64, and prints the training and test accuracy.

Errors the user can fix (a missing file, a malformed CSV, an unusable backend or
device, data that does not fit the model) print one line,
``bpnet-xp: error: ...``, on stderr and exit with status 1 (2 for a command-line
usage error, such as a file given to the wrong option: a CSV as ``--npz``, a model
as ``--csv``); ``--debug`` shows the traceback instead.

:func:`main` takes the argument list and returns the exit status, so the command
can be run in-process (``bpnet_xp.cli.main(["train", "--json"])``).  Inside:
:mod:`.parser` declares the options, :mod:`.commands` runs them, :mod:`.report`
prints and writes the results.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Sequence

from .commands import COMMANDS, CommandError, FileKindError
from .parser import COMMAND_NAMES, PROGRAM_NAME, UsageError, build_parser
from .report import Console, single_line

__all__ = ["main", "build_parser", "CommandError"]


def _describe_error(exc: BaseException) -> str:
    """The one-line message for an error; an unexpected one says so and points to --debug."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {os.fspath(exc.filename)!r}"
    if isinstance(exc, (CommandError, ValueError, OSError, ImportError)):
        text = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
        return text or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)"


def _error(text: str) -> None:
    print(f"{PROGRAM_NAME}: error: {single_line(text)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``bpnet-xp: warning: ...`` lines instead of Python's two-line form."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{PROGRAM_NAME}: warning: {single_line(str(message))}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpnet-xp`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 for an error (or a failed gradient
        check), 2 for a usage error (a file given to the wrong option included), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except SystemExit as exc:  # --help and --version print and "exit" 0
        return int(exc.code or 0)
    if args.command is None:
        _error(f"no command given; choose one of {', '.join(COMMAND_NAMES)} (see '{PROGRAM_NAME} --help')")
        return 2
    debug = bool(getattr(args, "debug", False))
    console = Console(bool(getattr(args, "quiet", False)), bool(getattr(args, "json", False)))
    try:
        with _one_line_warnings():
            return COMMANDS[args.command](args, console)
    except KeyboardInterrupt:
        if debug:
            raise
        _error("interrupted")
        return 130
    except FileKindError as exc:  # a file given to the wrong option: a command-line mistake
        if debug:
            raise
        _error(_describe_error(exc))
        return 2
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: not an error worth a message.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return 1
    except Exception as exc:
        if debug:
            raise
        _error(_describe_error(exc))
        return 1

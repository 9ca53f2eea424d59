"""The click group every command joins, and :func:`main`, which turns what goes wrong
into one line on stderr and an exit code."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import warnings

import click

from .._version import __version__
from ..errors import EXIT_FAILURE, EXIT_USAGE, RunFailure, UsageError
from ..places import is_transport_error


# Wide enough that `ogmbench --help` shows every command's summary whole.
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="ogmbench")
def cli():
    """Benchmark for denoising multi-class occupancy grid maps (OGMs).

    Generate paired clean/noisy class maps whose inter-class correlation is a knob
    (rho), then measure how much a second class helps to denoise the first.
    """


@contextlib.contextmanager
def _stopped_like_ctrl_c():
    """SIGTERM and SIGHUP (kill, timeout, a batch system's stop, a closed terminal) end a
    command as Ctrl-C does: its cleanup runs, so it releases its locks (on object storage
    a lock is an object that nothing else would delete) and stops its child processes."""
    names = ("SIGTERM", "SIGHUP")
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in names:
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.getsignal(number)
            if previous[number] is signal.SIG_DFL:  # one the caller set stays theirs
                signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _warnings_as_lines():
    """A warning (a checkpoint trained again, say) is one line on stderr, not Python's
    two with a source line of ogmbench's."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"warning: {message}", err=True)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _error(message: str) -> None:
    """One line on stderr, whatever the message quotes: line breaks are shown escaped."""
    click.echo("error: " + message.replace("\r", "\\r").replace("\n", "\\n"), err=True)
    # A read that failed mid-way leaves zarr's sibling reads pending on its I/O thread;
    # asyncio would log "Task was destroyed but it is pending!" for each at exit, after
    # the one line that says what went wrong.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def main(argv=None) -> None:
    """Entry point: run the CLI, turning expected errors into one line and an exit code."""
    try:
        with _stopped_like_ctrl_c(), _warnings_as_lines():
            cli.main(args=argv, prog_name="ogmbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _error(f"{exc.format_message()}{hint}")
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        _error(exc.format_message())
        sys.exit(exc.exit_code)
    except UsageError as exc:
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    except RunFailure as exc:
        _error(str(exc))
        sys.exit(EXIT_FAILURE)
    except OSError as exc:
        if is_transport_error(exc):
            _error(f"object storage: {exc}")
        else:
            _error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        sys.exit(1)
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        # An endpoint that cannot be reached, or credentials it refuses: not a bug.
        _error(f"object storage: {exc}")
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False returns the exit code of sys.exit-less commands

"""The ``ogmbench`` console script: the command line, loaded under a Ctrl-C guard.

``import ogmbench`` takes about a second (numpy, scipy, zarr); a Ctrl-C in that second
would print a KeyboardInterrupt traceback from the console script's own import, where
:func:`ogmbench.cli.main` cannot catch it.  This module imports nothing until
:func:`main` runs, and then imports the command line inside the guard.
"""

import sys


def main() -> None:
    """Run ``ogmbench``; interrupted while loading, say so and exit 130 like a run."""
    try:
        from ogmbench.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    try:
        cli_main()
    except SystemExit as exc:
        if exc.code == 130:  # interrupted: the command said so in one line
            _quiet_exit()
        raise


def _quiet_exit() -> None:
    """Nothing more on stderr after an interruption's line: a Dask cluster stopped while
    it started leaves its atexit handlers and tasks to fail as the process ends, and the
    interpreter would print each failure (Ctrl-C at the wrong second printed 5)."""
    import os

    sys.stderr.flush()
    sys.stderr = open(os.devnull, "w")

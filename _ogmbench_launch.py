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
    cli_main()

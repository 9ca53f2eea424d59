"""``python -m ogmbench.sandbox FD``: a child serving one call (see :mod:`._child`)."""

import sys

from ._child import main

main(sys.argv)

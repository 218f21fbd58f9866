"""``python -m glymph.cli ...``: the ``glymph`` command, as a GUI starts it in a separate process."""

import sys

from glymph.cli import main

if __name__ == "__main__":  # not in the worker processes Dask spawns, which import this module again
    sys.exit(main())

"""``python -m glymph.cli ...``: the ``glymph`` command, as a GUI starts it in a separate process."""

import sys

from glymph.cli import main

sys.exit(main())

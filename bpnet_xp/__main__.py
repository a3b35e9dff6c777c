"""``python -m bpnet_xp``: the ``bpnet-xp`` command (see :mod:`bpnet_xp.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

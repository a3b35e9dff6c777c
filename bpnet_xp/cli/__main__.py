"""``python -m bpnet_xp.cli``: the ``bpnet-xp`` command, as the single-module CLI allowed before."""

import sys

from . import main

sys.exit(main())

"""``python -m multilevel.cli``: the ``multilevel`` command."""

import sys

from multilevel.cli import main

sys.exit(main())

"""``python -m multilevel.cli``: the ``multilevel`` command."""

import sys

from multilevel.cli import main

if __name__ == "__main__":  # not when a helper process (spawned) imports it as __mp_main__
    sys.exit(main())

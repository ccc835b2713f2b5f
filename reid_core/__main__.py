"""``python -m reid_core`` is the ``re_identification`` command."""

import sys

from reid_core.cli import main

sys.exit(main())

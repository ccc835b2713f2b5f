"""``python -m automl`` is the ``automl`` command."""

import sys

from automl.cli import main

if __name__ == "__main__":  # trial processes fork from a server that re-imports the main module
    sys.exit(main())

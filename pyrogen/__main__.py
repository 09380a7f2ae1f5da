"""``python -m pyrogen`` runs the command line."""

import sys

from pyrogen.cli import main

sys.exit(main())

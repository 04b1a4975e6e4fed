"""``python -m ml_pipeline``: the command line (ml_pipeline.cli)."""

import sys

from ml_pipeline.cli import main

sys.exit(main())

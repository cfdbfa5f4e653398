"""``python -m approx``: the same command line as the ``approx`` console script."""
from .run.cli import main

raise SystemExit(main())

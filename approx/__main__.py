"""``python -m approx``: the same command line as the ``approx`` console script."""
from .cli import main

raise SystemExit(main())

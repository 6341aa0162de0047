"""`python -m ldrx ...`: the ldrx command line (the same as the `ldrx` script)."""

from .cli import main

raise SystemExit(main())

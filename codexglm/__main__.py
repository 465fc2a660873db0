"""`python -m codexglm`: the same as the `codexglm` command."""

from .cli import main

raise SystemExit(main())

"""`python -m console`: the same as `orders-console`."""

from console.cli import main

raise SystemExit(main())

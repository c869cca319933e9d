"""`python -m orders`: the same as the `orders` console command."""

from orders.cli import main

raise SystemExit(main())

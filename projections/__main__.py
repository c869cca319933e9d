"""`python -m projections` is the `projections` console command."""

from projections.cli import main

raise SystemExit(main())

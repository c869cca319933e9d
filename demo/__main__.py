"""`python -m demo`: the README's main command (see `demo.run`)."""

from demo.run import main

raise SystemExit(main())

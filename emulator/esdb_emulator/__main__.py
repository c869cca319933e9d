"""`python -m esdb_emulator`: the same as the `esdb-emulator` console command."""

import sys

from esdb_emulator.node.cli import main

sys.exit(main())

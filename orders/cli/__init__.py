"""The `orders` console command (entry point `orders.cli:main`).

Subcommands are found, not listed: every public module of this package (name not starting
with "_") exposes `SUBCOMMANDS`, a sequence of `orders.cli.common.Subcommand`. To add one,
drop a module here; nothing else changes.
"""

from orders.cli.app import build_parser, main

__all__ = ["build_parser", "main"]

"""Read-model subcommands (list, customers, sales, report), defined by the read side.

The commands live in `projections.orders_commands`; this module only registers them.
"""

from projections.orders_commands import SUBCOMMANDS

__all__ = ["SUBCOMMANDS"]

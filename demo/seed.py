"""`python -m demo.seed`: write legacy orders as the TypeScript service and early versions
stored them (the demo's and the upcasting tests' corpus, `demo.legacy_seed`).

Exit codes as the `orders` command's: 0 done, 2 bad usage, 3 the event store cannot be
reached, 4 it answered but the write failed. Seeding the same orders again writes nothing.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence

from demo.legacy_seed import legacy_orders, write_legacy
from orders import bootstrap
from orders.cli.app import classify
from orders.cli.common import EXIT_OK, print_json, run_main, say
from orders.logging import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    """Seed the legacy orders against `--uri` (default `ESDB_URI`); returns the exit code.
    Errors are reported and mapped to exit codes as the `orders` command does."""
    return run_main("seed", _parser().parse_args, argv, classify, setup=_setup)


def _setup(args: argparse.Namespace) -> None:
    if args.uri:
        os.environ["ESDB_URI"] = args.uri
        bootstrap.reset()
    configure_logging()


def _seed(args: argparse.Namespace) -> int:
    orders = legacy_orders(args.count, seed=args.seed)
    events = write_legacy(bootstrap.default_store(), orders)
    if args.json:
        print_json(
            [
                {
                    "order_id": o.order_id,
                    "kind": o.kind,
                    "status": o.status,
                    "total": o.total,
                    "paid": o.paid,
                    "events": len(o.events),
                }
                for o in orders
            ]
        )
        return EXIT_OK
    kinds = Counter(order.kind for order in orders)
    mix = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    say(f"seeded {len(orders)} legacy orders ({events} events): {mix}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo.seed", description=__doc__)
    parser.add_argument("--uri", help="the event store (default: ESDB_URI)")
    parser.add_argument("--count", type=_count, default=24, help="legacy orders (default 24)")
    parser.add_argument(
        "--seed", type=int, default=1, help="the same seed writes the same orders (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(run=_seed)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 100000")
    return value


if __name__ == "__main__":
    raise SystemExit(main())

"""Builds the `orders` parser from the discovered subcommand modules and maps errors to exit
codes: 0 done, 1 refused by a domain rule, 2 bad usage or input, 3 event store unreachable,
4 the store answered but the work failed, 5 idempotency key reused for a different request.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence

import orders.cli
from orders.bootstrap import default_settings
from orders.cli.base import (
    EXIT_KEY_REUSED,
    EXIT_REJECTED,
    EXIT_STORE_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Subcommand,
    print_json,
)
from orders.errors import (
    DomainError,
    IdempotencyKeyReused,
    InvalidCommand,
    InvalidSettings,
    OrdersError,
    StoreError,
    StoreUnavailable,
    TransientStoreError,
)
from orders.logging import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    """Run `orders` with `argv` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    try:
        return int(args.run(args))
    except OrdersError as e:
        return _report(e, as_json=getattr(args, "json", False))
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="orders",
        description="Place and follow orders stored in EventStoreDB (ESDB_URI).",
        epilog="exit codes: 0 done, 1 refused by a domain rule, 2 bad usage or input,"
        " 3 event store unreachable, 4 event store failure,"
        " 5 idempotency key reused for a different request",
    )
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    seen: set[str] = set()
    for command in discover():
        if command.name in seen:
            raise RuntimeError(f"two modules define the subcommand {command.name!r}")
        seen.add(command.name)
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def discover() -> Iterator[Subcommand]:
    """The subcommands of every public module in the `orders.cli` package, by module name."""
    for module_info in sorted(pkgutil.iter_modules(orders.cli.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or module_info.name in {"app", "base"}:
            continue
        module = importlib.import_module(f"orders.cli.{module_info.name}")
        yield from getattr(module, "SUBCOMMANDS", ())


def _report(error: OrdersError, *, as_json: bool) -> int:
    code, kind, message = _classify(error)
    sys.stderr.write(f"orders: {message}\n")
    if as_json:
        document: dict[str, object] = {"error": kind, "message": message, "exit_code": code}
        if isinstance(error, DomainError):
            document |= {"rule": error.rule, "order_id": error.order_id, "status": error.status}
        if isinstance(error, InvalidCommand):
            document["field"] = error.field
        print_json(document)
    return code


def _classify(error: OrdersError) -> tuple[int, str, str]:
    if isinstance(error, IdempotencyKeyReused):
        return EXIT_KEY_REUSED, "idempotency_key_reused", str(error)
    if isinstance(error, DomainError):
        return EXIT_REJECTED, "rejected", str(error)
    if isinstance(error, InvalidCommand | InvalidSettings):
        return EXIT_USAGE, "invalid", str(error)
    if isinstance(error, StoreUnavailable):
        return EXIT_UNREACHABLE, "unreachable", str(error)
    if isinstance(error, TransientStoreError):
        uri = default_settings().masked_uri
        return EXIT_UNREACHABLE, "unreachable", f"event store at {uri} is not answering: {error}"
    if isinstance(error, StoreError):
        return EXIT_STORE_FAILED, "store_failed", str(error)
    return EXIT_STORE_FAILED, "failed", str(error)

"""Builds the `orders` parser from the discovered subcommand modules and maps errors to exit
codes: 0 done, 1 refused by a domain rule, 2 bad usage or input, 3 event store unreachable,
4 the store answered but the work failed, 5 idempotency key reused for a different request,
6 authentication failed, 7 TLS handshake failed, 8 no usable read model (not built yet,
corrupt or unreadable).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
from collections.abc import Iterator, Sequence

import orders.cli
from orders import bootstrap
from orders.bootstrap import default_settings
from orders.cli.common import (
    EXIT_AUTH_FAILED,
    EXIT_KEY_REUSED,
    EXIT_REJECTED,
    EXIT_STORE_FAILED,
    EXIT_TLS_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Failure,
    Subcommand,
    run_main,
)
from orders.errors import (
    AuthenticationFailed,
    DomainError,
    IdempotencyKeyReused,
    InvalidCommand,
    InvalidSettings,
    OrdersError,
    StoreError,
    StoreUnavailable,
    TlsHandshakeFailed,
    TransientStoreError,
)
from orders.logging import configure_logging
from orders.store import plaintext_to_tls_server


def main(argv: Sequence[str] | None = None) -> int:
    """Run `orders` with `argv` (default: the process arguments); returns the exit code."""
    return run_main("orders", build_parser().parse_args, argv, classify, setup=_setup)


def _setup(args: argparse.Namespace) -> None:
    if args.uri:  # everything reads ESDB_URI; --uri (before or after the subcommand) wins
        os.environ["ESDB_URI"] = args.uri
        bootstrap.reset()
    configure_logging()


def build_parser() -> argparse.ArgumentParser:
    """The parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="orders",
        description="Place and follow orders stored in EventStoreDB (ESDB_URI).",
        epilog="exit codes: 0 done, 1 refused by a domain rule, 2 bad usage or input,"
        " 3 event store unreachable, 4 event store failure,"
        " 5 idempotency key reused for a different request, 6 authentication failed,"
        " 7 TLS handshake failed, 8 no usable read model (not built yet, corrupt, unreadable)",
    )
    parser.add_argument("--uri", default=None, help="esdb:// URI (default ESDB_URI)")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    seen: set[str] = set()
    for command in discover():
        if command.name in seen:
            raise RuntimeError(f"two modules define the subcommand {command.name!r}")
        seen.add(command.name)
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.add_argument("--uri", default=argparse.SUPPRESS, help="esdb:// URI (default ESDB_URI)")
        sub.set_defaults(run=command.run)
    return parser


def discover() -> Iterator[Subcommand]:
    """The subcommands of every public module in the `orders.cli` package, by module name."""
    for module_info in sorted(pkgutil.iter_modules(orders.cli.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or module_info.name in {"app", "common"}:
            continue
        module = importlib.import_module(f"orders.cli.{module_info.name}")
        yield from getattr(module, "SUBCOMMANDS", ())


def classify(error: Exception, _args: argparse.Namespace) -> Failure | None:
    """The exit code and report of an `orders` error (None: not ours, let it raise)."""
    if not isinstance(error, OrdersError):
        return None
    failure = _failure(error)
    details: dict[str, object] = {}
    if isinstance(error, DomainError):
        details = {"rule": error.rule, "order_id": error.order_id, "status": error.status}
    if isinstance(error, InvalidCommand):
        details["field"] = error.field
    return Failure(*failure, details=details)


def _failure(error: OrdersError) -> tuple[int, str, str]:
    if isinstance(error, IdempotencyKeyReused):
        return EXIT_KEY_REUSED, "idempotency_key_reused", str(error)
    if isinstance(error, DomainError):
        return EXIT_REJECTED, "rejected", str(error)
    if isinstance(error, InvalidCommand | InvalidSettings):
        return EXIT_USAGE, "invalid", str(error)
    if isinstance(error, AuthenticationFailed):
        return EXIT_AUTH_FAILED, "authentication_failed", str(error)
    if isinstance(error, TlsHandshakeFailed):
        return EXIT_TLS_FAILED, "tls_failed", str(error)
    uri = default_settings().masked_uri
    if isinstance(error, StoreUnavailable) and plaintext_to_tls_server(error, uri):
        return (
            EXIT_TLS_FAILED,
            "tls_failed",
            (
                f"TLS handshake failed with {uri}: the server closed every connection at once,"
                " as a TLS-only server does to a plaintext client; if it serves TLS, use"
                " Tls=true (with tlsCaFile=PATH and user:password@) in the URI"
            ),
        )
    if isinstance(error, StoreUnavailable):
        return EXIT_UNREACHABLE, "unreachable", str(error)
    if isinstance(error, TransientStoreError):
        return EXIT_UNREACHABLE, "unreachable", f"event store at {uri} is not answering: {error}"
    if isinstance(error, StoreError):
        return EXIT_STORE_FAILED, "store_failed", str(error)
    return EXIT_STORE_FAILED, "failed", str(error)

"""What both command lines (`orders`, `projections`) share: exit codes, the subcommand
shape, JSON and text output, and `run_main`, the one wrapper around a parsed command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orders.logging import quiet_grpc_core

EXIT_OK = 0
EXIT_REJECTED = 1  # refused by a domain rule; the message names the rule
EXIT_USAGE = 2  # bad usage or input (argparse uses 2 as well)
EXIT_UNREACHABLE = 3  # the event store cannot be reached (the message names the URI)
EXIT_STORE_FAILED = 4  # the store answered but the work failed (e.g. an undecodable event)
EXIT_KEY_REUSED = 5  # idempotency key (command id, payment id) reused for a different request
EXIT_AUTH_FAILED = 6  # the event store refused the URI's credentials
EXIT_TLS_FAILED = 7  # TLS could not be set up with the event store (trust, or a TLS mismatch)
EXIT_NO_READ_MODEL = 8  # a read model is not built yet, or its file is corrupt or unreadable


@dataclass(frozen=True)
class Subcommand:
    """One `orders <name>` subcommand.

    `configure` adds its arguments to its parser; `run` does the work and returns the exit
    code. Errors from `orders` propagate to `orders.cli.app`, which maps them to codes.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json`: print one JSON document on stdout instead of text."""
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def timestamp(text: str) -> datetime:
    """argparse type: an ISO 8601 time; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2024-03-01T10:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def print_json(document: Any) -> None:
    """Write `document` as one line of JSON on stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")


def say(text: str) -> None:
    """Write a line of human output on stdout."""
    sys.stdout.write(text + "\n")


@dataclass(frozen=True)
class Failure:
    """How a command line reports one error: exit code, JSON kind, message, extra fields."""

    code: int
    kind: str
    message: str
    details: dict[str, object] | None = None


def run_main(
    prog: str,
    parse: Callable[[Sequence[str] | None], argparse.Namespace],
    argv: Sequence[str] | None,
    classify: Callable[[Exception, argparse.Namespace], Failure | None],
    *,
    setup: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Parse `argv`, run `args.run(args)` and return its exit code.

    An exception `classify` knows (given the parsed arguments) is reported as
    `prog: message` on stderr (and, with `--json`, as `{"error", "message", "exit_code",
    ...}` on stdout) and becomes its exit code; others propagate. Ctrl-C exits 130.
    """
    quiet_grpc_core()
    args = parse(argv)
    if setup is not None:
        setup(args)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        failure = classify(error, args)
        if failure is None:
            raise
    sys.stderr.write(f"{prog}: {failure.message}\n")
    if getattr(args, "json", False):
        document = {"error": failure.kind, "message": failure.message, "exit_code": failure.code}
        print_json(document | (failure.details or {}))
    return failure.code

"""What a subcommand module provides, exit codes, and options and output shared by them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orders.service import CommandOptions

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


def add_command_options(parser: argparse.ArgumentParser) -> None:
    """Options of every write subcommand: --json, --command-id, --correlation-id, --actor."""
    add_json_option(parser)
    parser.add_argument(
        "--command-id",
        help="idempotency key: repeating the same command with it never applies it twice;"
        " reusing it for a different command (or arguments) is refused, exit 5",
    )
    parser.add_argument("--correlation-id", help="links the events to a wider workflow")
    parser.add_argument("--actor", help="who issues the command (default: ORDERS_ACTOR or login)")


def command_options(args: argparse.Namespace) -> CommandOptions:
    """The command-function keyword options from the parsed shared options."""
    return CommandOptions(
        command_id=args.command_id, correlation_id=args.correlation_id, actor=args.actor
    )


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

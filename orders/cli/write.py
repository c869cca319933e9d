"""Write subcommands: place, address, pay, ship, deliver, cancel (money in minor units)."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from orders.api import (
    CommandOptions,
    CommandResult,
    cancel_order,
    change_shipping_address,
    confirm_delivery,
    order_id_for,
    place_order,
    record_payment,
    ship_order,
)
from orders.cli.common import (
    EXIT_OK,
    Subcommand,
    add_json_option,
    print_json,
    say,
)

_ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")


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


def line_item(text: str) -> dict[str, Any]:
    """argparse type for --line: SKU:QUANTITY:UNIT_PRICE (unit price in minor units)."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} is not SKU:QUANTITY:UNIT_PRICE")
    sku, quantity, price = parts
    try:
        return {"sku": sku, "quantity": int(quantity), "unit_price": int(price)}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: quantity and unit price must be whole numbers (minor units)"
        ) from None


def _configure_place(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--order-id",
        default=None,
        help="a UUID (default: derived from --command-id, so a retried place names the same"
        " order; without either, a new one)",
    )
    parser.add_argument("--customer", required=True, help="customer id")
    parser.add_argument(
        "--line",
        dest="lines",
        action="append",
        type=line_item,
        default=[],
        metavar="SKU:QTY:PRICE",
        help="an order line, unit price in minor units (repeat for more lines)",
    )
    parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
    _add_address_options(parser, optional=True)
    add_command_options(parser)


def _run_place(args: argparse.Namespace) -> int:
    if args.order_id:
        order_id = args.order_id
    elif args.command_id:
        order_id = order_id_for(args.command_id)
    else:
        order_id = str(uuid.uuid4())
    result = place_order(
        order_id,
        args.customer,
        args.lines,
        args.currency,
        _address(args),
        **command_options(args),
    )
    return _show_result("placed", result, args)


def _configure_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    _add_address_options(parser, optional=False)
    add_command_options(parser)


def _run_address(args: argparse.Namespace) -> int:
    address = _address(args) or {}
    result = change_shipping_address(args.order_id, address, **command_options(args))
    return _show_result("address changed", result, args)


def _configure_pay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    parser.add_argument(
        "--payment-id",
        required=True,
        help="the payment's id: repeating the same payment is a no-op; the same id with"
        " another amount or currency is refused, exit 5",
    )
    parser.add_argument("--amount", required=True, type=int, help="amount in minor units")
    parser.add_argument("--currency", required=True, help="ISO 4217 code of the payment")
    add_command_options(parser)


def _run_pay(args: argparse.Namespace) -> int:
    result = record_payment(
        args.order_id, args.payment_id, args.amount, args.currency, **command_options(args)
    )
    return _show_result("payment recorded", result, args)


def _configure_ship(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    parser.add_argument("--carrier", required=True)
    parser.add_argument("--tracking-number", required=True)
    add_command_options(parser)


def _run_ship(args: argparse.Namespace) -> int:
    result = ship_order(args.order_id, args.carrier, args.tracking_number, **command_options(args))
    return _show_result("shipped", result, args)


def _configure_order_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    add_command_options(parser)


def _run_deliver(args: argparse.Namespace) -> int:
    return _show_result("delivered", confirm_delivery(args.order_id, **command_options(args)), args)


def _configure_cancel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    parser.add_argument("--reason", required=True)
    add_command_options(parser)


def _run_cancel(args: argparse.Namespace) -> int:
    result = cancel_order(args.order_id, args.reason, **command_options(args))
    return _show_result("cancelled", result, args)


def _add_address_options(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    hint = " (optional; if given: name, line1, city, postal code, country)" if optional else ""
    group = parser.add_argument_group("shipping address" + hint)
    for field in _ADDRESS_FIELDS:
        flag = "--" + field.replace("_", "-")
        group.add_argument(flag, dest=f"address_{field}", default=None, metavar=field.upper())


def _address(args: argparse.Namespace) -> dict[str, Any] | None:
    given = {f: getattr(args, f"address_{f}") for f in _ADDRESS_FIELDS}
    present = {key: value for key, value in given.items() if value is not None}
    return present or None


def result_document(result: CommandResult) -> dict[str, Any]:
    """The JSON form of a command result."""
    return {
        "order_id": result.order_id,
        "revision": result.revision,
        "commit_position": result.commit_position,
        "already_applied": result.already_applied,
        "command_id": str(result.command_id),
        "conflicts_retried": result.conflicts_retried,
        "events": [
            {
                "type": recorded.event.event_type,
                "revision": recorded.revision,
                "event_id": str(recorded.event_id),
                "data": recorded.event.model_dump(mode="json"),
            }
            for recorded in result.events
        ],
    }


def _show_result(done: str, result: CommandResult, args: argparse.Namespace) -> int:
    if args.json:
        print_json(result_document(result))
    elif result.already_applied:
        say(f"order {result.order_id}: already applied (revision {result.revision})")
    else:
        types = ", ".join(recorded.event.event_type for recorded in result.events)
        say(f"order {result.order_id}: {done} ({types}; revision {result.revision})")
    return EXIT_OK


SUBCOMMANDS = (
    Subcommand("place", "place a new order", _configure_place, _run_place),
    Subcommand("address", "change an order's shipping address", _configure_address, _run_address),
    Subcommand("pay", "record a payment against an order", _configure_pay, _run_pay),
    Subcommand("ship", "ship a paid order", _configure_ship, _run_ship),
    Subcommand(
        "deliver", "confirm a shipped order was delivered", _configure_order_only, _run_deliver
    ),
    Subcommand(
        "cancel", "cancel an order, refunding what was paid", _configure_cancel, _run_cancel
    ),
)

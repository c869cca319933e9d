"""Read subcommands: `show` (now, --revision N or --at TIME) and `history`."""

from __future__ import annotations

import argparse
from typing import Any

from orders.cli.common import EXIT_OK, Subcommand, add_json_option, print_json, say, timestamp
from orders.codec import RecordedOrderEvent
from orders.describe import address_line, summarize
from orders.iso_codes import format_money
from orders.queries import OrderView, get_order, order_history


def _configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    point = parser.add_mutually_exclusive_group()
    point.add_argument("--revision", type=int, help="the state after the event at this revision")
    point.add_argument(
        "--at",
        type=timestamp,
        metavar="TIME",
        help="the state as of an ISO 8601 time (UTC if no offset)",
    )
    parser.add_argument(
        "--by",
        choices=("occurred", "recorded"),
        default="occurred",
        help="with --at: compare with when events occurred (default) or were recorded",
    )
    add_json_option(parser)


def _run_show(args: argparse.Namespace) -> int:
    view = get_order(args.order_id, at_revision=args.revision, as_of=args.at, by=args.by)
    if args.json:
        print_json(view.to_dict())
    else:
        for line in _describe(view):
            say(line)
    return EXIT_OK


def _configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id")
    add_json_option(parser)


def _run_history(args: argparse.Namespace) -> int:
    history = order_history(args.order_id)
    if args.json:
        print_json([history_document(recorded) for recorded in history])
        return EXIT_OK
    for recorded in history:
        when, kind = _iso(recorded.occurred_at), recorded.event.event_type
        say(f"{recorded.revision:>4}  {when:<27}  {kind:<22}  {summarize(recorded.event)}")
    return EXIT_OK


def history_document(recorded: RecordedOrderEvent) -> dict[str, Any]:
    """The JSON form of one event of an order's history, metadata included."""
    meta = recorded.metadata
    return {
        "revision": recorded.revision,
        "type": recorded.event.event_type,
        "stored_type": recorded.stored_type,
        "schema_version": recorded.stored_version,
        "event_id": str(recorded.event_id),
        "commit_position": recorded.commit_position,
        "recorded_at": _iso(recorded.recorded_at),
        "occurred_at": _iso(recorded.occurred_at),
        "summary": summarize(recorded.event),
        "data": recorded.event.model_dump(mode="json"),
        "metadata": {
            "schema_version": meta.schema_version,
            "correlation_id": meta.correlation_id,
            "causation_id": meta.causation_id,
            "command_id": meta.command_id,
            "actor": meta.actor,
            "occurred_at": _iso(meta.occurred_at),
        },
    }


def _describe(view: OrderView) -> list[str]:
    facts = view.state.facts
    money = facts.currency
    point = f" as of {_iso(view.as_of)}" if view.as_of else ""
    lines = [
        f"order {facts.order_id}  {view.state.status.value}  (revision {view.revision}{point})",
        f"  customer     {facts.customer_id}",
        f"  total        {format_money(facts.total, money)}",
        f"  paid         {format_money(facts.paid, money)}",
        f"  refunded     {format_money(facts.refunded, money)}",
        f"  outstanding  {format_money(facts.outstanding, money)}",
        f"  placed at    {_iso(facts.placed_at)}",
        f"  ships to     {address_line(facts.shipping_address)}",
    ]
    for line in facts.lines:
        price = "price unknown" if line.unit_price is None else format_money(line.unit_price, money)
        lines.append(f"  line         {line.sku} x {line.quantity} @ {price}")
    return lines


def _iso(moment: Any) -> str:
    return "" if moment is None else moment.isoformat().replace("+00:00", "Z")


SUBCOMMANDS = (
    Subcommand(
        "show", "show an order now, at a revision, or as of a time", _configure_show, _run_show
    ),
    Subcommand(
        "history",
        "list every event of an order with its metadata",
        _configure_history,
        _run_history,
    ),
)

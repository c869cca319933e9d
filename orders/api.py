"""The command functions scripts import: `place_order`, `record_payment`, ...

Each builds its command and runs it on an `OrderService`: over `store=` when given, else
the process-wide default the composition root (`orders.bootstrap`) builds from
`ESDB_URI` on first use. Every call is idempotent by command id and retried on conflicts
(see `orders.service`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Unpack

from pydantic import BaseModel

from orders import bootstrap
from orders.commands import (
    CancelOrder,
    ChangeShippingAddress,
    ConfirmDelivery,
    OrderCommand,
    PlaceOrder,
    RecordPayment,
    ShipOrder,
    build,
)
from orders.ports import OrderStore
from orders.service import CallOptions, CommandResult, order_id_for

__all__ = [
    "CommandOptions",
    "CommandResult",
    "cancel_order",
    "change_shipping_address",
    "confirm_delivery",
    "execute",
    "order_id_for",
    "place_order",
    "record_payment",
    "ship_order",
]


class CommandOptions(CallOptions, total=False):
    """Keyword options every command function takes: `at` (the command's time, default
    now) and `store` (default: the process-wide store), besides the `CallOptions`."""

    at: datetime | None
    store: OrderStore | None


def place_order(
    order_id: str,
    customer_id: str,
    lines: Iterable[Mapping[str, Any] | BaseModel],
    currency: str,
    shipping_address: Mapping[str, Any] | BaseModel | None = None,
    **options: Unpack[CommandOptions],
) -> CommandResult:
    """Place a new order (total computed from `lines`; money in minor units)."""
    fields: dict[str, Any] = {"customer_id": customer_id, "currency": currency}
    fields |= {"lines": tuple(_plain(line) for line in lines)}
    fields |= {"shipping_address": None if shipping_address is None else _plain(shipping_address)}
    return _run(PlaceOrder, order_id, options, **fields)


def change_shipping_address(
    order_id: str,
    shipping_address: Mapping[str, Any] | BaseModel,
    **options: Unpack[CommandOptions],
) -> CommandResult:
    """Replace the address of a PENDING or PAID order."""
    return _run(ChangeShippingAddress, order_id, options, shipping_address=_plain(shipping_address))


def record_payment(
    order_id: str, payment_id: str, amount: int, currency: str, **options: Unpack[CommandOptions]
) -> CommandResult:
    """Record a payment on a PENDING order; repeating a recorded payment is a no-op, and
    its `payment_id` with another amount or currency raises PaymentIdReused."""
    return _run(
        RecordPayment, order_id, options, payment_id=payment_id, amount=amount, currency=currency
    )


def ship_order(
    order_id: str, carrier: str, tracking_number: str, **options: Unpack[CommandOptions]
) -> CommandResult:
    """Ship a PAID order."""
    return _run(ShipOrder, order_id, options, carrier=carrier, tracking_number=tracking_number)


def confirm_delivery(order_id: str, **options: Unpack[CommandOptions]) -> CommandResult:
    """Confirm delivery of a SHIPPED order."""
    return _run(ConfirmDelivery, order_id, options)


def cancel_order(order_id: str, reason: str, **options: Unpack[CommandOptions]) -> CommandResult:
    """Cancel a PENDING or PAID order, refunding anything paid."""
    return _run(CancelOrder, order_id, options, reason=reason)


def execute(command: OrderCommand, **options: Unpack[CommandOptions]) -> CommandResult:
    """Run a built command on the service for `store=` (default: the process-wide one).

    Raises as `OrderService.execute`.
    """
    store = options.get("store")
    service = bootstrap.default_service() if store is None else bootstrap.service_for(store)
    return service.execute(
        command,
        command_id=options.get("command_id"),
        correlation_id=options.get("correlation_id"),
        causation_id=options.get("causation_id"),
        actor=options.get("actor"),
    )


def _run(
    command_type: type[OrderCommand], order_id: str, options: CommandOptions, **fields: Any
) -> CommandResult:
    at = options.get("at") or datetime.now(UTC)
    command = build(command_type, order_id=order_id, at=at, **fields)
    return execute(command, **options)


def _plain(value: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return value.model_dump() if isinstance(value, BaseModel) else dict(value)

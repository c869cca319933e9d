"""The Order decider: pure `initial_state` / `evolve` / `decide` (no I/O, no clock).

State is a tagged union of frozen slotted dataclasses, one per lifecycle status:
NotPlaced -> Pending -> Paid -> Shipped -> Delivered, and Cancelled from Pending or Paid.
An order whose payments cover its total is Paid even without an OrderPaid event (legacy
data recorded payment as the "paid" fact).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, TypeAlias, assert_never

from orders.commands import (
    CancelOrder,
    ChangeShippingAddress,
    ConfirmDelivery,
    OrderCommand,
    PlaceOrder,
    RecordPayment,
    ShipOrder,
)
from orders.errors import (
    CurrencyMismatch,
    OrderAlreadyExists,
    OrderNotFound,
    PaymentExceedsOutstanding,
    PaymentIdReused,
    WrongStatus,
)
from orders.events import (
    OrderCancelled,
    OrderDelivered,
    OrderEvent,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    PaymentReceived,
    RefundIssued,
    ShippingAddressChanged,
)
from orders.values import OrderLine, ShippingAddress


class Status(StrEnum):
    """The lifecycle status of a placed order."""

    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as first recorded under its id (amount in minor units)."""

    payment_id: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What every placed order knows, whatever its status. Money in minor units."""

    order_id: str
    customer_id: str
    currency: str
    total: int
    lines: tuple[OrderLine, ...]
    shipping_address: ShippingAddress | None
    placed_at: datetime
    paid: int = 0
    refunded: int = 0
    payment_ids: frozenset[str] = frozenset()
    paid_at: datetime | None = None
    payments: tuple[Payment, ...] = ()

    def payment(self, payment_id: str) -> Payment | None:
        """The payment first recorded under `payment_id`, if any."""
        return next((p for p in self.payments if p.payment_id == payment_id), None)

    @property
    def outstanding(self) -> int:
        """What is still owed (never negative)."""
        return max(self.total - self.paid, 0)


@dataclass(frozen=True, slots=True)
class Shipment:
    """How a shipped order travels."""

    carrier: str
    tracking_number: str
    shipped_at: datetime


@dataclass(frozen=True, slots=True)
class NotPlaced:
    """No OrderPlaced yet: the stream does not exist (or is empty up to this point)."""

    status: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class Pending:
    """Placed, awaiting payment."""

    facts: Facts
    status: ClassVar[Status] = Status.PENDING


@dataclass(frozen=True, slots=True)
class Paid:
    """Payments cover the total."""

    facts: Facts
    status: ClassVar[Status] = Status.PAID


@dataclass(frozen=True, slots=True)
class Shipped:
    """Handed to a carrier."""

    facts: Facts
    shipment: Shipment
    status: ClassVar[Status] = Status.SHIPPED


@dataclass(frozen=True, slots=True)
class Delivered:
    """Delivery confirmed; final."""

    facts: Facts
    shipment: Shipment
    delivered_at: datetime
    status: ClassVar[Status] = Status.DELIVERED


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Cancelled before shipping; final (refunds may still be recorded)."""

    facts: Facts
    reason: str
    cancelled_at: datetime
    status: ClassVar[Status] = Status.CANCELLED


Placed: TypeAlias = Pending | Paid | Shipped | Delivered | Cancelled
Order: TypeAlias = NotPlaced | Placed


def initial_state() -> Order:
    """The state before any event."""
    return NotPlaced()


def fold(events: Iterable[OrderEvent], state: Order | None = None) -> Order:
    """Apply `events` in order to `state` (default: the initial state)."""
    current = initial_state() if state is None else state
    for event in events:
        current = evolve(current, event)
    return current


def evolve(state: Order, event: OrderEvent) -> Order:
    """The state after `event`; events that do not apply leave the state unchanged."""
    if isinstance(state, NotPlaced):
        return _placed(event) if isinstance(event, OrderPlaced) else state
    facts = state.facts
    match state, event:
        case _, ShippingAddressChanged(shipping_address=address):
            return replace(state, facts=replace(facts, shipping_address=address))
        case _, PaymentReceived(payment_id=pid, amount=amount, currency=currency, received_at=at):
            payments = facts.payments
            if pid not in facts.payment_ids:
                payments = (*payments, Payment(pid, amount, currency))
            paid = replace(
                facts,
                paid=facts.paid + amount,
                payment_ids=facts.payment_ids | {pid},
                payments=payments,
            )
            return _settle(replace(state, facts=paid), at)
        case Pending(), OrderPaid(paid_at=at):
            return Paid(replace(facts, paid_at=facts.paid_at or at))
        case Paid(), OrderShipped(carrier=carrier, tracking_number=number, shipped_at=at):
            return Shipped(facts, Shipment(carrier, number, at))
        case Shipped(shipment=shipment), OrderDelivered(delivered_at=at):
            return Delivered(facts, shipment, at)
        case Pending() | Paid(), OrderCancelled(reason=reason, cancelled_at=at):
            return Cancelled(facts, reason, at)
        case _, RefundIssued(amount=amount):
            return replace(state, facts=replace(facts, refunded=facts.refunded + amount))
        case _:
            return state


def decide(command: OrderCommand, state: Order) -> list[OrderEvent]:
    """The events `command` produces in `state`; raises a DomainError naming the rule."""
    match command:
        case PlaceOrder():
            return _place(command, state)
        case ChangeShippingAddress():
            _require(state, command, Pending, Paid)
            return [
                ShippingAddressChanged(
                    order_id=command.order_id,
                    shipping_address=command.shipping_address,
                    changed_at=command.at,
                )
            ]
        case RecordPayment():
            return _pay(command, state)
        case ShipOrder():
            _require(state, command, Paid)
            return [
                OrderShipped(
                    order_id=command.order_id,
                    carrier=command.carrier,
                    tracking_number=command.tracking_number,
                    shipped_at=command.at,
                )
            ]
        case ConfirmDelivery():
            _require(state, command, Shipped)
            return [OrderDelivered(order_id=command.order_id, delivered_at=command.at)]
        case CancelOrder():
            return _cancel(command, state)
        case _:
            assert_never(command)


def _placed(event: OrderPlaced) -> Order:
    facts = Facts(
        order_id=event.order_id,
        customer_id=event.customer_id,
        currency=event.currency,
        total=event.total,
        lines=event.lines,
        shipping_address=event.shipping_address,
        placed_at=event.placed_at,
    )
    return _settle(Pending(facts), event.placed_at)


def _settle(state: Placed, at: datetime) -> Placed:
    """A pending order whose payments cover its total is paid (legacy rule)."""
    facts = state.facts
    if isinstance(state, Pending) and facts.paid >= facts.total:
        return Paid(replace(facts, paid_at=facts.paid_at or at))
    return state


def _require(state: Order, command: OrderCommand, *allowed: type[Placed]) -> Placed:
    if isinstance(state, NotPlaced):
        raise OrderNotFound(command.order_id, None, "the order has not been placed")
    if not isinstance(state, allowed):
        statuses = tuple(cls.status.value for cls in allowed)
        raise WrongStatus(command.order_id, state.status.value, type(command).__name__, statuses)
    return state


def _place(command: PlaceOrder, state: Order) -> list[OrderEvent]:
    if not isinstance(state, NotPlaced):
        raise OrderAlreadyExists(
            command.order_id, state.status.value, "an order with this id exists"
        )
    # The command validated every line already; copy them as plain OrderLines.
    lines = tuple(OrderLine.model_construct(**dict(line)) for line in command.lines)
    total = sum(line.quantity * line.unit_price for line in command.lines)
    placed = OrderPlaced(
        order_id=command.order_id,
        customer_id=command.customer_id,
        lines=lines,
        currency=command.currency,
        total=total,
        shipping_address=command.shipping_address,
        placed_at=command.at,
    )
    if total == 0:  # nothing to pay: the balance is zero from the start
        return [placed, OrderPaid(order_id=command.order_id, total=0, paid_at=command.at)]
    return [placed]


def _pay(command: RecordPayment, state: Order) -> list[OrderEvent]:
    if isinstance(state, NotPlaced):
        raise OrderNotFound(command.order_id, None, "the order has not been placed")
    known = state.facts.payment(command.payment_id)
    if known is not None:  # a retry of that payment, or a different one reusing its id
        _same_payment(command, known, state.status.value)
        return []
    facts = _require(state, command, Pending).facts
    status = Status.PENDING.value
    if command.currency != facts.currency:
        raise CurrencyMismatch(
            command.order_id,
            status,
            f"payment in {command.currency}, order in {facts.currency}",
        )
    if command.amount > facts.outstanding:
        raise PaymentExceedsOutstanding(command.order_id, status, command.amount, facts.outstanding)
    received = PaymentReceived(
        order_id=command.order_id,
        payment_id=command.payment_id,
        amount=command.amount,
        currency=command.currency,
        received_at=command.at,
    )
    if command.amount < facts.outstanding:
        return [received]
    paid = OrderPaid(order_id=command.order_id, total=facts.total, paid_at=command.at)
    return [received, paid]


def _same_payment(command: RecordPayment, known: Payment, status: str) -> None:
    """Refuse a payment that reuses the id of a recorded one with other terms."""
    differences = [
        f"{name} {was} recorded, {given} given"
        for name, was, given in (
            ("amount", known.amount, command.amount),
            ("currency", known.currency, command.currency),
        )
        if was != given
    ]
    if differences:
        raise PaymentIdReused(command.order_id, status, command.payment_id, "; ".join(differences))


def _cancel(command: CancelOrder, state: Order) -> list[OrderEvent]:
    facts = _require(state, command, Pending, Paid).facts
    cancelled = OrderCancelled(
        order_id=command.order_id, reason=command.reason, cancelled_at=command.at
    )
    refundable = facts.paid - facts.refunded
    if refundable <= 0:
        return [cancelled]
    refund = RefundIssued(
        order_id=command.order_id,
        amount=refundable,
        currency=facts.currency,
        refunded_at=command.at,
    )
    return [cancelled, refund]

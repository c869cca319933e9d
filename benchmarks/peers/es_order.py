"""Peer (b): the Order aggregate written in the eventsourcing library's idiom.

- `Order`: an `Aggregate` whose `@event` methods record and apply its events (Placed,
  PaymentReceived, Paid, Shipped, ShippingAddressChanged); public methods check the rules
  first, as the library's documentation does it.
- `Orders`: an `Application` on the EventStoreDB persistence module
  (`eventsourcing_eventstoredb`, the library's own adapter): one stream per aggregate,
  appended with the expected version, read back whole on every command (no cache, no
  snapshots: the library's defaults). Conflicts on the address change are retried with the
  library's `retry` decorator.
- `OrderSummaryProjection`: a `ProcessApplication` following `Orders` (its notification log
  over `$all`, filtered to this aggregate's event topics) into SQLite with the library's
  tracking table; each event's rows are written in the transaction that records its
  tracking row (the library's exactly-once unit), through a process recorder that also
  runs the statements the policy hands over.

Everything here is the library's public API except `SummaryRecorder`, which extends the
library's SQLite process recorder at its documented extension point (`_insert_events`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import RecordConflictError
from eventsourcing.sqlite import Factory as SQLiteFactory
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from eventsourcing.system import ProcessApplication
from eventsourcing.utils import get_topic, retry

from benchmarks.peers.workload import (
    ADDRESS_SQL,
    PAID_SQL,
    PAYMENT_SQL,
    PLACE_SQL,
    SHIPPED_SQL,
)
from projections.read_models.order_summary import SCHEMA

Statement = tuple[str, tuple[Any, ...]]


class OrderRuleError(Exception):
    """A command refused by the order's rules (names the rule)."""


class Order(Aggregate):
    """An order: placed, paid, shipped; its address may change until it ships."""

    INITIAL_VERSION = 0  # the adapter maps versions to stream revisions (its README)

    @event("Placed")
    def __init__(
        self,
        customer_id: str,
        lines: list[dict[str, Any]],
        currency: str,
        total: int,
        shipping_address: dict[str, Any] | None,
    ) -> None:
        self.customer_id = customer_id
        self.lines = lines
        self.currency = currency
        self.total = total
        self.shipping_address = shipping_address
        self.status = "PENDING"
        self.paid = 0
        self.payment_ids: list[str] = []
        self.carrier: str | None = None
        self.tracking_number: str | None = None

    def pay(self, payment_id: str, amount: int, currency: str) -> None:
        """Record a payment; a known payment id is a no-op; full payment makes it PAID."""
        if payment_id in self.payment_ids:
            return
        if self.status != "PENDING":
            raise OrderRuleError(f"record-payment-requires-pending (is {self.status})")
        if currency != self.currency:
            raise OrderRuleError("payment-currency-must-match-order")
        if amount <= 0 or amount > self.total - self.paid:
            raise OrderRuleError("payment-must-not-exceed-outstanding")
        self._receive_payment(payment_id, amount, currency)
        if self.paid >= self.total:
            self._mark_paid(self.total)

    def ship(self, carrier: str, tracking_number: str) -> None:
        """Hand a PAID order to a carrier."""
        if self.status != "PAID":
            raise OrderRuleError(f"ship-order-requires-paid (is {self.status})")
        self._ship(carrier, tracking_number)

    def change_address(self, shipping_address: dict[str, Any]) -> None:
        """Replace the address of a PENDING or PAID order."""
        if self.status not in ("PENDING", "PAID"):
            raise OrderRuleError(f"change-address-requires-pending-or-paid (is {self.status})")
        self._change_address(shipping_address)

    @event("PaymentReceived")
    def _receive_payment(self, payment_id: str, amount: int, currency: str) -> None:
        self.paid += amount
        self.payment_ids.append(payment_id)

    @event("Paid")
    def _mark_paid(self, total: int) -> None:
        self.status = "PAID"

    @event("Shipped")
    def _ship(self, carrier: str, tracking_number: str) -> None:
        self.status = "SHIPPED"
        self.carrier = carrier
        self.tracking_number = tracking_number

    @event("ShippingAddressChanged")
    def _change_address(self, shipping_address: dict[str, Any]) -> None:
        self.shipping_address = shipping_address


CONFLICT_WAIT = 0.005  # this project's conflict_wait_base; the library's waits are fixed
CONFLICT_ATTEMPTS = 500
"""This project allows 50 attempts with jittered exponential waits; with the library's
fixed (+-5%) waits, 8 writers on one order ran out of 50 attempts, so (b) gets 500."""


class Orders(Application):
    """The order commands and query, each loading the aggregate from its stream."""

    name = "Orders"
    log_section_size = 500  # the most a follower may pull per read (library default 10)

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.address_attempts = 0
        """Attempts of `change_shipping_address` (retries = attempts - calls)."""

    def place_order(
        self,
        customer_id: str,
        lines: list[dict[str, Any]],
        currency: str,
        shipping_address: dict[str, Any] | None,
    ) -> UUID:
        """Place a new order (total from the lines); returns its id."""
        if not lines:
            raise OrderRuleError("an order needs at least one line")
        for line in lines:
            if line["quantity"] < 1 or line["unit_price"] < 0:
                raise OrderRuleError(f"bad line {line!r}")
        total = sum(line["quantity"] * line["unit_price"] for line in lines)
        order = Order(customer_id, lines, currency, total, shipping_address)
        self.save(order)
        return order.id

    def record_payment(self, order_id: UUID, payment_id: str, amount: int, currency: str) -> None:
        """Record a payment on a PENDING order."""
        order: Order = self.repository.get(order_id)
        order.pay(payment_id, amount, currency)
        self.save(order)

    def ship_order(self, order_id: UUID, carrier: str, tracking_number: str) -> None:
        """Ship a PAID order."""
        order: Order = self.repository.get(order_id)
        order.ship(carrier, tracking_number)
        self.save(order)

    @retry(RecordConflictError, max_attempts=CONFLICT_ATTEMPTS, wait=CONFLICT_WAIT)
    def change_shipping_address(self, order_id: UUID, shipping_address: dict[str, Any]) -> None:
        """Replace the address; a conflicting save reloads and tries again."""
        self.address_attempts += 1
        order: Order = self.repository.get(order_id)
        order.change_address(shipping_address)
        self.save(order)

    def get_order(self, order_id: UUID) -> dict[str, Any]:
        """The order's current state."""
        order: Order = self.repository.get(order_id)
        return {
            "order_id": str(order.id),
            "status": order.status,
            "customer_id": order.customer_id,
            "currency": order.currency,
            "total": order.total,
            "paid": order.paid,
            "lines": order.lines,
            "shipping_address": order.shipping_address,
            "revision": order.version,
        }

    def close(self) -> None:
        """Close the application and its esdbclient client (the adapter only drops it)."""
        super().close()
        client = getattr(self.factory, "client", None)
        if client is not None:
            client.close()


def orders_env(uri: str) -> dict[str, str]:
    """The environment for `Orders` on the EventStoreDB at `uri`."""
    return {"PERSISTENCE_MODULE": "eventsourcing_eventstoredb", "EVENTSTOREDB_URI": uri}


class SummaryRecorder(SQLiteProcessRecorder):
    """The library's SQLite process recorder, with the `order_summary` table beside its
    tracking table, running the statements a policy passes as `statements=` in the same
    transaction as the tracking row."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SCHEMA]

    def _insert_events(self, c: SQLiteCursor, stored_events: Any, **kwargs: Any) -> Any:
        returning = super()._insert_events(c, stored_events, **kwargs)
        for sql, params in kwargs.get("statements", ()):
            c.execute(sql, params)
        return returning


class SummaryFactory(SQLiteFactory):
    """The library's SQLite persistence module with `SummaryRecorder`."""

    process_recorder_class = SummaryRecorder


class OrderSummaryProjection(ProcessApplication):
    """Follows `Orders` and keeps one `order_summary` row per order (the library's way:
    pull the leader's notifications, one policy call and one transaction per event)."""

    name = "OrderSummary"
    follow_topics = [
        get_topic(cls)
        for cls in (
            Order.Placed,
            Order.PaymentReceived,
            Order.Paid,
            Order.Shipped,
            Order.ShippingAddressChanged,
        )
    ]
    pull_section_size = 500  # the library's default is 10 per read of the leader's log

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        """Events this projection does not show change nothing."""

    @policy.register
    def _(self, domain_event: Order.Placed, processing_event: ProcessingEvent) -> None:
        address = domain_event.shipping_address or {}
        row = (
            str(domain_event.originator_id),
            domain_event.customer_id,
            domain_event.currency,
            domain_event.total,
            len(domain_event.lines),
            address.get("city"),
            address.get("country"),
            domain_event.timestamp.isoformat(),
            domain_event.originator_version,
        )
        processing_event.collect_events(statements=[(PLACE_SQL, row)])

    @policy.register
    def _(self, domain_event: Order.PaymentReceived, processing_event: ProcessingEvent) -> None:
        params = (domain_event.amount, domain_event.originator_version)
        statement = (PAYMENT_SQL, (*params, str(domain_event.originator_id)))
        processing_event.collect_events(statements=[statement])

    @policy.register
    def _(self, domain_event: Order.Paid, processing_event: ProcessingEvent) -> None:
        processing_event.collect_events(statements=[_milestone(PAID_SQL, domain_event)])

    @policy.register
    def _(self, domain_event: Order.Shipped, processing_event: ProcessingEvent) -> None:
        processing_event.collect_events(statements=[_milestone(SHIPPED_SQL, domain_event)])

    @policy.register
    def _(
        self, domain_event: Order.ShippingAddressChanged, processing_event: ProcessingEvent
    ) -> None:
        address = domain_event.shipping_address
        params = (address["city"], address["country"], domain_event.originator_version)
        statement = (ADDRESS_SQL, (*params, str(domain_event.originator_id)))
        processing_event.collect_events(statements=[statement])


def _milestone(sql: str, domain_event: Any) -> Statement:
    at = domain_event.timestamp.isoformat()
    return sql, (at, domain_event.originator_version, str(domain_event.originator_id))


def projection_env(db_path: str) -> dict[str, str]:
    """The environment for `OrderSummaryProjection` writing into SQLite at `db_path`."""
    return {
        "PERSISTENCE_MODULE": get_topic(SummaryFactory),
        "SQLITE_DBNAME": db_path,
        "SQLITE_LOCK_TIMEOUT": "30",
    }

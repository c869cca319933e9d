"""Legacy orders as the old services stored them, for the demo, the tests and the benchmark.

`legacy_orders(count, seed)` builds them (pure, deterministic); `write_legacy` appends
each order's stream in one append at "no stream", with event ids derived from the seed,
so writing the same seed twice writes nothing new (EventStoreDB's idempotent append).

Most orders come from the TypeScript service: `OrderPlacedEvent` / `OrderPaidEvent`,
camelCase, dollars as JavaScript floats (totals summed in float arithmetic, so some carry
artifacts like 30.000000000000004), no `schema_version`, and either no metadata or its
camelCase `correlationId` / `causationId` / `userId`. A few come from our own earlier
versions: OrderPlaced v2 and PaymentReceived v1 (USD only), with `schema_version`.
Each order carries the status, total and paid amount it must have once upcast; these are
computed in integer cents, independently of the upcasters.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from uuid import UUID, uuid5

from orders.ports import AppendResult, EncodedEvent

Kind = Literal["ts-pending", "ts-paid", "ts-partial", "ts-split", "v2-pending", "v2-paid"]
KINDS: tuple[Kind, ...] = (
    "ts-pending",
    "ts-paid",
    "ts-partial",
    "ts-split",
    "v2-pending",
    "v2-paid",
)
_WEIGHTS = (3, 4, 2, 2, 1, 1)
_NAMESPACE = UUID("9a0f6f0e-2d7c-4f0a-8c55-1b7e3e2a9d41")
_SKUS = ("p-100", "p-101", "p-205", "p-310", "p-311", "p-420", "p-512", "p-999")
_USERS = ("checkout-web", "checkout-ios", "support-desk")


@dataclass(frozen=True, slots=True)
class LegacyOrder:
    """One legacy order: its stream's events and what it must read as once upcast."""

    order_id: str
    kind: Kind
    events: tuple[EncodedEvent, ...]
    customer_id: str
    total: int
    paid: int
    status: Literal["PENDING", "PAID"]


class Appender(Protocol):
    """The part of `orders.ports.OrderStore` the seed needs."""

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult: ...


def legacy_orders(count: int, *, seed: int = 1) -> list[LegacyOrder]:
    """`count` legacy orders, the same for the same seed; raises ValueError if count < 0."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    rng = random.Random(seed)
    customers = [f"cust-{rng.randrange(1000, 9999)}" for _ in range(max(1, count // 3))]
    orders = []
    for index in range(count):
        kind = KINDS[index] if index < len(KINDS) else rng.choices(KINDS, _WEIGHTS)[0]
        order = _Builder(rng, seed, index, rng.choice(customers))
        orders.append(order.build(kind))
    return orders


def write_legacy(store: Appender, orders: Sequence[LegacyOrder]) -> int:
    """Append each order's events to its new stream; returns how many events were sent.

    Raises ConcurrencyConflict if a stream already holds other events.
    """
    for order in orders:
        store.append(order.order_id, None, order.events)
    return sum(len(order.events) for order in orders)


class _Builder:
    """Builds one order's events; money is chosen in cents and stored as the era stored it."""

    def __init__(self, rng: random.Random, seed: int, index: int, customer: str) -> None:
        self.rng = rng
        self.order_id = str(uuid5(_NAMESPACE, f"legacy-{seed}-{index}"))
        self.customer = customer
        self.events: list[EncodedEvent] = []
        self.correlation = str(uuid5(_NAMESPACE, f"correlation-{seed}-{index}"))
        self.metadata_style = rng.choice(("none", "typescript"))

    def build(self, kind: Kind) -> LegacyOrder:
        items = [
            (self.rng.choice(_SKUS), self.rng.randint(1, 3)) for _ in range(self.rng.randint(1, 4))
        ]
        prices = [self.rng.randrange(99, 25_000) for _ in items]
        total = sum(price * quantity for price, (_, quantity) in zip(prices, items, strict=True))
        if kind.startswith("ts-"):
            paid = self._typescript(kind, items, prices, total)
        else:
            paid = self._ours(kind, items, prices, total)
        status: Literal["PENDING", "PAID"] = "PAID" if paid >= total else "PENDING"
        return LegacyOrder(
            self.order_id, kind, tuple(self.events), self.customer, total, paid, status
        )

    def _typescript(
        self, kind: Kind, items: list[tuple[str, int]], prices: list[int], total: int
    ) -> int:
        # JavaScript summed float prices: keep its artifacts, as the stored data has them
        total_float = 0.0
        for price, (_, quantity) in zip(prices, items, strict=True):
            total_float += price / 100 * quantity
        placed = {
            "customerId": self.customer,
            "items": [{"productId": sku, "quantity": quantity} for sku, quantity in items],
            "totalAmount": _js_number(total_float),
        }
        self._add("OrderPlacedEvent", placed, self._typescript_metadata())
        if kind == "ts-paid":
            self._ts_payment(total_float)
            return total
        if kind == "ts-partial":
            part = self.rng.randrange(1, total)
            self._ts_payment(part / 100)
            return part
        if kind == "ts-split":
            first = self.rng.randrange(1, total)
            self._ts_payment(first / 100)
            self._ts_payment(total_float - first / 100)
            return total
        return 0

    def _ts_payment(self, amount: float) -> None:
        transaction = f"txn_{self.rng.getrandbits(48):012x}"
        self._add(
            "OrderPaidEvent",
            {"transactionId": transaction, "amount": _js_number(amount)},
            self._typescript_metadata(),
        )

    def _ours(self, kind: Kind, items: list[tuple[str, int]], prices: list[int], total: int) -> int:
        lines = [
            {"sku": sku, "quantity": quantity, "unit_price": price}
            for price, (sku, quantity) in zip(prices, items, strict=True)
        ]
        placed = {
            "order_id": self.order_id,
            "customer_id": self.customer,
            "lines": lines,
            "currency": "USD",
            "total": total,
        }
        self._add("OrderPlaced", placed, self._our_metadata(2))
        if kind != "v2-paid":
            return 0
        payment = {
            "order_id": self.order_id,
            "transaction_id": f"pay-{self.rng.getrandbits(32):08x}",
            "amount_cents": total,
        }
        self._add("PaymentReceived", payment, self._our_metadata(1))
        return total

    def _typescript_metadata(self) -> dict[str, Any] | None:
        if self.metadata_style == "none":
            return None
        return {
            "correlationId": self.correlation,
            "causationId": self.correlation,
            "userId": self.rng.choice(_USERS),
        }

    def _our_metadata(self, version: int) -> dict[str, Any]:
        return {
            "schema_version": version,
            "$correlationId": self.correlation,
            "$causationId": self.correlation,
        }

    def _add(self, event_type: str, data: dict[str, Any], metadata: dict[str, Any] | None) -> None:
        index = len(self.events)
        self.events.append(
            EncodedEvent(
                id=uuid5(_NAMESPACE, f"{self.order_id}-{index}"),
                type=event_type,
                data=_json(data),
                metadata=b"" if metadata is None else _json(metadata),
            )
        )


def _js_number(value: float) -> float | int:
    """How JSON.stringify writes a number: integral values without a fraction."""
    return int(value) if value.is_integer() else value


def _json(value: dict[str, Any]) -> bytes:
    # JSON.stringify form: no spaces; Python's float repr is JavaScript's shortest form too
    return json.dumps(value, separators=(",", ":")).encode()

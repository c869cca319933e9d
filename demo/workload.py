"""A scripted, seeded run of orders through the write side's command functions.

For the demo, the scenario tests and the benchmark: the same seed gives the same orders,
times and outcomes (payments in one or two parts, address changes, shipping, deliveries,
cancellations with refunds). Times advance from `start` so the days in daily_sales and
the `--before` reports are deterministic too.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict
from uuid import UUID, uuid5

from orders import api
from orders.ports import OrderStore

START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
_NAMESPACE = UUID("4d1c0e7a-93a2-4b5e-8f6d-2a7b9c3e1f05")
_CITIES = [
    ("Berlin", "10117", "DE"),
    ("Paris", "75001", "FR"),
    ("London", "EC1A 1BB", "GB"),
    ("Madrid", "28013", "ES"),
    ("New York", "10001", "US"),
    ("Tokyo", "100-0001", "JP"),
]
_CURRENCIES = ["USD", "USD", "EUR", "EUR", "GBP", "JPY"]
_CARRIERS = ["DHL", "UPS", "FedEx", "La Poste"]


@dataclass(slots=True)
class WorkloadResult:
    """What the run did: order ids and how many commands of each kind."""

    order_ids: list[str] = field(default_factory=list)
    commands: Counter[str] = field(default_factory=Counter)


def run_orders(
    store: OrderStore,
    count: int,
    *,
    seed: int = 7,
    start: datetime = START,
    threads: int = 1,
    on_order: Callable[[int], None] | None = None,
) -> WorkloadResult:
    """Place `count` orders and take each through a seeded life; returns what it did.

    Each order has its own generator (seeded by `seed` and its index), so `threads` > 1
    writes the same orders, events and times, only interleaved differently in `$all`.
    """
    result = WorkloadResult(order_ids=[_order_id(seed, i) for i in range(count)])
    done = iter(range(1, count + 1))
    lock = threading.Lock()

    def one(index: int) -> None:
        commands = _life(store, seed, index, max(1, count // 4), start)
        with lock:
            result.commands.update(commands)
            finished = next(done)
        if on_order is not None:
            on_order(finished)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(count)))
    return result


def _order_id(seed: int, index: int) -> str:
    return str(uuid5(_NAMESPACE, f"{seed}-{index}"))


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def tick(self, rng: random.Random) -> datetime:
        self.at += timedelta(minutes=rng.randint(1, 600))
        return self.at


def _life(
    store: OrderStore, seed: int, index: int, customers: int, start: datetime
) -> Counter[str]:
    """One order's seeded life through the command functions; the commands it ran."""
    rng = random.Random(f"{seed}-{index}")
    order_id = _order_id(seed, index)
    customer = f"customer-{rng.randrange(customers):04d}"
    clock = _Clock(start + timedelta(minutes=37 * index))
    commands: Counter[str] = Counter()

    def run(name: str, call: Callable[..., object], *args: object) -> None:
        step = sum(commands.values())
        command_id = uuid5(_NAMESPACE, f"{order_id}-{step}")  # a retried run appends nothing twice
        call(order_id, *args, at=clock.tick(rng), store=store, command_id=command_id)
        commands[name] += 1

    currency = rng.choice(_CURRENCIES)
    lines = [_line(rng, currency) for _ in range(rng.randint(1, 4))]
    total = sum(line["quantity"] * line["unit_price"] for line in lines)
    run("place", api.place_order, customer, lines, currency, _address(rng))
    if rng.random() < 0.15:
        run("address", api.change_shipping_address, _address(rng))
    roll = rng.random()
    if roll < 0.2:
        if roll < 0.1 and rng.random() < 0.5:
            run("pay", api.record_payment, f"pay-{order_id[:8]}-0", total // 3, currency)
        if roll < 0.1:
            run("cancel", api.cancel_order, "customer changed their mind")
        return commands  # cancelled, or left PENDING
    _pay(run, rng, order_id, total, currency)
    if rng.random() < 0.1:
        run("address", api.change_shipping_address, _address(rng))
    if rng.random() < 0.12:
        run("cancel", api.cancel_order, "out of stock")
        return commands
    run("ship", api.ship_order, rng.choice(_CARRIERS), f"TRK{rng.randrange(10**9):09d}")
    if rng.random() < 0.7:
        run("deliver", api.confirm_delivery)
    return commands


def _pay(
    run: Callable[..., None], rng: random.Random, order_id: str, total: int, currency: str
) -> None:
    """One payment, or two (the first partial)."""
    parts = [total] if rng.random() < 0.7 or total < 2 else [total // 2, total - total // 2]
    for number, amount in enumerate(parts):
        run("pay", api.record_payment, f"pay-{order_id[:8]}-{number}", amount, currency)


class _Line(TypedDict):
    sku: str
    quantity: int
    unit_price: int


def _line(rng: random.Random, currency: str) -> _Line:
    price = rng.randint(5, 400) * (100 if currency == "JPY" else 25)
    return {
        "sku": f"SKU-{rng.randint(1, 60):03d}",
        "quantity": rng.randint(1, 3),
        "unit_price": price,
    }


def _address(rng: random.Random) -> dict[str, object]:
    city, postal_code, country = rng.choice(_CITIES)
    number = rng.randint(1, 200)
    return {
        "name": f"Customer {number}",
        "line1": f"{number} Main Street",
        "city": city,
        "postal_code": postal_code,
        "country": country,
    }

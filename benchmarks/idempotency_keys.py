"""What a caller-given command id costs: place-and-pay with `command_id=` vs without.

With an explicit command id a writing command also claims the id (one `CommandIdClaimed`
append to `idempotency-{uuid}`, see docs/orders.md), so reuse on another order is
refused; without one nothing is claimed. Starts its own emulator subprocess (file db,
synchronous=FULL) and interleaves the two ways order by order (alternating which goes
first) so load from other processes hits both alike. Prints per way the median over
rounds of throughput and p50/p99 latency of one place-and-pay, and the ratio.
Run: `.venv/bin/python benchmarks/idempotency_keys.py [--orders 100] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esdb_emulator.node.launcher import EmulatorProcess
from orders import place_order, record_payment
from orders.store import EsdbStore

LINES: list[dict[str, Any]] = [{"sku": "sku-1", "quantity": 2, "unit_price": 1250}]
TOTAL = 2500


def place_and_pay(store: EsdbStore, *, keyed: bool) -> None:
    """One order placed and paid in full, with caller-given command ids or without."""
    order_id = str(uuid.uuid4())
    place_key = f"place-{order_id}" if keyed else None
    pay_key = f"pay-{order_id}" if keyed else None
    place_order(order_id, "cust-1", LINES, "EUR", store=store, command_id=place_key)
    record_payment(order_id, f"p-{order_id}", TOTAL, "EUR", store=store, command_id=pay_key)


def interleaved(ways: dict[str, Callable[[], None]], orders: int) -> dict[str, list[float]]:
    """Each way `orders` times, one order of each in turn, alternating the lead."""
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for index in range(orders):
        for name in names if index % 2 == 0 else reversed(names):
            begin = time.perf_counter()
            ways[name]()
            latencies[name].append(time.perf_counter() - begin)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100, help="orders per round and way")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    rounds: dict[str, list[list[float]]] = {"no key": [], "keyed": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(Path(tmp) / "bench.db") as node,
        EsdbStore(node.uri) as store,
    ):
        ways = {
            "no key": lambda: place_and_pay(store, keyed=False),
            "keyed": lambda: place_and_pay(store, keyed=True),
        }
        interleaved(ways, args.warmup)
        for _ in range(args.rounds):
            for name, spent in interleaved(ways, args.orders).items():
                rounds[name].append(spent)
    print(
        f"place-and-pay, {args.rounds} rounds x {args.orders} orders per way"
        " (emulator subprocess, file db, synchronous=FULL); medians over rounds"
    )
    print(f"{'way':<7} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    summary: dict[str, tuple[float, float]] = {}
    for way, measured in rounds.items():
        rate = statistics.median(len(spent) / sum(spent) for spent in measured)
        p50 = statistics.median(_quantile(spent, 0.50) for spent in measured) * 1000
        p99 = statistics.median(_quantile(spent, 0.99) for spent in measured) * 1000
        summary[way] = (rate, p50)
        print(f"{way:<7} {rate:>9.1f} {p50:>8.2f} {p99:>8.2f}")
    ratio_p50 = summary["keyed"][1] / summary["no key"][1]
    ratio_rate = summary["no key"][0] / summary["keyed"][0]
    print(f"keyed / no key: p50 latency x{ratio_p50:.2f}, time per order x{ratio_rate:.2f}")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    main()

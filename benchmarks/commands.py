"""Place-and-pay through the command functions vs. the same work with bare esdbclient calls.

Starts its own emulator subprocess (file database, synchronous=FULL), then interleaves the
two ways of doing the same work order by order (alternating which goes first), so load
from other processes on a shared machine hits both alike:

- ours: `place_order` then `record_payment` of the full total (OrderPlaced, then
  PaymentReceived + OrderPaid), each read -> decode -> decide -> append;
- bare: read the order's stream, append the same three events as JSON at the exact
  revision (NO_STREAM, then 0), with esdbclient only.

Prints, per way: throughput (orders placed and paid per second of time spent on that way)
and p50/p99 latency of one place-and-pay, as medians over the rounds, and the overhead of
our layer over the bare calls.
Run: `.venv/bin/python benchmarks/commands.py [--orders 200] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound

from esdb_emulator.node.launcher import EmulatorProcess
from orders import place_order, record_payment
from orders.store import EsdbStore

LINES: list[dict[str, Any]] = [
    {"sku": "sku-1", "quantity": 2, "unit_price": 1250},
    {"sku": "sku-2", "quantity": 1, "unit_price": 4999},
    {"sku": "sku-3", "quantity": 3, "unit_price": 300},
]
TOTAL = sum(line["quantity"] * line["unit_price"] for line in LINES)
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": None,
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}

Round = tuple[float, list[float], float]  # (orders/s, latencies in s, client CPU s per order)
TIMEOUT_S = 10.0  # the same deadline on every call, as EsdbStore sets


def ours(store: EsdbStore) -> None:
    """Place and pay one order through the command functions."""
    order_id = str(uuid.uuid4())
    place_order(order_id, "cust-1", LINES, "EUR", ADDRESS, store=store)
    record_payment(order_id, f"pay-{order_id}", TOTAL, "EUR", store=store)


def bare(client: EventStoreDBClient) -> None:
    """The same stream and events with bare esdbclient calls (no model, no decider)."""
    order_id = str(uuid.uuid4())
    stream = f"order-{order_id}"
    placed = _event("OrderPlaced", 3, uuid.uuid4(), 0, _placed(order_id))
    client.append_to_stream(
        stream, current_version=_revision(client, stream), events=[placed], timeout=TIMEOUT_S
    )
    received, paid = _payment(order_id, uuid.uuid4())
    client.append_to_stream(
        stream,
        current_version=_revision(client, stream),
        events=[received, paid],
        timeout=TIMEOUT_S,
    )


def interleaved(ways: dict[str, Callable[[], None]], orders: int) -> dict[str, Round]:
    """Run each way `orders` times, one order of each in turn, alternating the lead."""
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    cpu = dict.fromkeys(ways, 0.0)
    names = list(ways)
    for index in range(orders):
        for name in names if index % 2 == 0 else reversed(names):
            begin, begin_cpu = time.perf_counter(), time.process_time()
            ways[name]()
            cpu[name] += time.process_time() - begin_cpu
            latencies[name].append(time.perf_counter() - begin)
    return {
        name: (len(spent) / sum(spent), spent, cpu[name] / len(spent))
        for name, spent in latencies.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per round and way")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    results: dict[str, list[Round]] = {"ours": [], "bare": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(Path(tmp) / "bench.db") as node,
        EsdbStore(node.uri) as store,
        EventStoreDBClient(node.uri) as client,
    ):
        ways = {"ours": lambda: ours(store), "bare": lambda: bare(client)}
        interleaved(ways, args.warmup)
        for _ in range(args.rounds):
            for name, measured in interleaved(ways, args.orders).items():
                results[name].append(measured)
    _report(results, args)


def _revision(client: EventStoreDBClient, stream: str) -> int | StreamState:
    try:
        return len(client.get_stream(stream, timeout=TIMEOUT_S)) - 1
    except NotFound:
        return StreamState.NO_STREAM


def _placed(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "cust-1",
        "lines": LINES,
        "currency": "EUR",
        "total": TOTAL,
        "shipping_address": ADDRESS,
        "placed_at": _now(),
    }


def _payment(order_id: str, command: uuid.UUID) -> tuple[NewEvent, NewEvent]:
    at = _now()
    received = {
        "order_id": order_id,
        "payment_id": f"pay-{order_id}",
        "amount": TOTAL,
        "currency": "EUR",
        "received_at": at,
    }
    paid = {"order_id": order_id, "total": TOTAL, "paid_at": at}
    return (
        _event("PaymentReceived", 2, command, 0, received),
        _event("OrderPaid", 1, command, 1, paid),
    )


def _event(
    kind: str, version: int, command: uuid.UUID, index: int, data: dict[str, Any]
) -> NewEvent:
    metadata = {
        "schema_version": version,
        "$correlationId": str(command),
        "$causationId": str(command),
        "command_id": str(command),
        "actor": "bench",
        "occurred_at": _now(),
    }
    return NewEvent(
        type=kind,
        data=json.dumps(data).encode(),
        metadata=json.dumps(metadata).encode(),
        id=uuid.uuid5(command, str(index)),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _report(results: dict[str, list[Round]], args: argparse.Namespace) -> None:
    print(
        f"place-and-pay, {args.rounds} rounds x {args.orders} orders per way"
        " (emulator subprocess, file db, synchronous=FULL); medians over rounds"
    )
    print(f"{'way':<6} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'client CPU ms':>14}")
    summary = {}
    for way, rounds in results.items():
        rate = statistics.median(r[0] for r in rounds)
        p50 = statistics.median(_quantile(r[1], 0.50) for r in rounds) * 1000
        p99 = statistics.median(_quantile(r[1], 0.99) for r in rounds) * 1000
        cpu = statistics.median(r[2] for r in rounds) * 1000
        summary[way] = (rate, p50, p99)
        print(f"{way:<6} {rate:>9.1f} {p50:>8.2f} {p99:>8.2f} {cpu:>14.2f}")
    overhead_p50 = summary["ours"][1] / summary["bare"][1] - 1
    overhead_rate = summary["bare"][0] / summary["ours"][0] - 1
    verdict = "within" if max(overhead_p50, overhead_rate) <= 0.25 else "OVER"
    print(
        f"overhead of our layer: p50 latency {overhead_p50:+.1%}, throughput {overhead_rate:+.1%}"
        f" ({verdict} the 25% target)"
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()

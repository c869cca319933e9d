"""Sixteen processes record payments on one order at once: conflicts happen and are retried,
no update is lost, the total is never exceeded, and the stream stays gapless."""

from __future__ import annotations

import json
import multiprocessing
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.context import ForkServerProcess
from typing import Any

import payment_worker
import pytest
from esdbclient import EventStoreDBClient

from orders import get_order, place_order
from orders.store import EsdbStore

WORKERS = 16
PAYMENTS_PER_WORKER = 6  # of 100 each: 96 attempts, of which exactly FITTING fit
FITTING = 80
TOTAL = FITTING * 100 + 50  # leaves 50 outstanding once the 80 payments are in
DEADLINE_S = 90.0


@dataclass
class Fleet:
    """The worker processes, their start signals (one per phase) and their outbox."""

    processes: list[ForkServerProcess]
    starts: list[Any]
    out: Any

    def run_phase(self, number: int) -> list[dict[str, Any]]:
        """Start phase `number` in every worker at once; every worker's results."""
        self.starts[number].set()
        reports = [self._next() for _ in self.processes]
        assert sorted(r["phase"] for r in reports) == [number] * len(self.processes)
        return [result for report in reports for result in report["results"]]

    def _next(self) -> dict[str, Any]:
        try:
            message: dict[str, Any] = self.out.get(timeout=DEADLINE_S)
        except queue.Empty:
            dead = [p.exitcode for p in self.processes if not p.is_alive()]
            pytest.fail(f"no word from the workers within {DEADLINE_S}s (exit codes {dead})")
        return message


@pytest.fixture
def fleet(esdb_uri: str, order_id: str) -> Iterator[Fleet]:
    """WORKERS payment processes, connected and waiting for the start signal."""
    context = multiprocessing.get_context("forkserver")
    # Python 3.11 preloads before applying sys.path, so name installed modules only.
    context.set_forkserver_preload(["orders", "orders.store"])
    starts = [context.Event(), context.Event()]
    out = context.Queue()
    phases = [[100] * PAYMENTS_PER_WORKER, [50]]
    processes = [
        context.Process(
            target=payment_worker.work,
            args=(esdb_uri, order_id, f"w{n}", phases, starts, out),
            daemon=True,
        )
        for n in range(WORKERS)
    ]
    for process in processes:
        process.start()
    fleet = Fleet(processes, starts, out)
    try:
        ready = sorted(fleet._next()["ready"] for _ in processes)
        assert ready == sorted(f"w{n}" for n in range(WORKERS))
        yield fleet
    finally:
        for start in starts:
            start.set()
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


def test_sixteen_processes_paying_one_order_lose_nothing_and_never_overpay(
    fleet: Fleet,
    store: EsdbStore,
    client: EventStoreDBClient,
    order_id: str,
) -> None:
    place_order(
        order_id, "c", [{"sku": "a", "quantity": 1, "unit_price": TOTAL}], "EUR", store=store
    )

    first = fleet.run_phase(0)
    accepted = [r for r in first if r["accepted"]]
    refused = [r for r in first if not r["accepted"]]
    assert len(first) == WORKERS * PAYMENTS_PER_WORKER
    assert len(accepted) == FITTING
    assert {r["rule"] for r in refused} == {"payment-must-not-exceed-outstanding"}
    assert sum(r["conflicts"] for r in accepted) > 0, "the processes never actually collided"
    assert sorted(r["revision"] for r in accepted) == list(range(1, FITTING + 1))

    view = get_order(order_id, store=store)
    assert (view.state.status, view.state.facts.paid, view.state.facts.outstanding) == (
        "PENDING",
        FITTING * 100,
        50,
    )
    paid_ids = {
        json.loads(e.data)["payment_id"]
        for e in client.get_stream(f"order-{order_id}")
        if e.type == "PaymentReceived"
    }
    assert paid_ids == {r["payment_id"] for r in accepted}  # no lost update, no phantom

    second = fleet.run_phase(1)  # everyone tries to pay the last 50 at once
    winners = [r for r in second if r["accepted"]]
    assert len(winners) == 1
    assert winners[0]["events"] == ["PaymentReceived", "OrderPaid"]
    assert {r["rule"] for r in second if not r["accepted"]} == {"record-payment-requires-pending"}

    final = get_order(order_id, store=store)
    assert (final.state.status, final.state.facts.paid) == ("PAID", TOTAL)
    events = list(client.get_stream(f"order-{order_id}"))
    assert [e.stream_position for e in events] == list(range(FITTING + 3))
    assert [e.type for e in events][-2:] == ["PaymentReceived", "OrderPaid"]

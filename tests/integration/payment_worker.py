"""The payment-recording process of the concurrency test (imported by multiprocessing).

Its imports (orders, gRPC, pydantic) are preloaded once in a forkserver, so sixteen
workers start in milliseconds instead of each importing them. Each worker builds its own
store after the fork (gRPC objects never cross a fork), reports ready, then runs one
phase of payments per start signal.
"""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from orders import record_payment
from orders.errors import DomainError
from orders.store import EsdbStore

SIGNAL_TIMEOUT_S = 90.0


def pay(store: EsdbStore, order_id: str, payment_id: str, amount: int) -> dict[str, Any]:
    """Record one payment; the outcome as a plain dict (accepted, conflicts, or the rule)."""
    try:
        result = record_payment(order_id, payment_id, amount, "EUR", store=store)
    except DomainError as e:
        return {"payment_id": payment_id, "amount": amount, "accepted": False, "rule": e.rule}
    return {
        "payment_id": payment_id,
        "amount": amount,
        "accepted": True,
        "revision": result.revision,
        "events": [r.event.event_type for r in result.events],
        "conflicts": result.conflicts_retried,
    }


def work(
    uri: str,
    order_id: str,
    worker: str,
    phases: list[list[int]],
    starts: list[Event],
    out: Queue[dict[str, Any]],
) -> None:
    """Pay each phase's amounts in turn, each phase after its start signal."""
    with EsdbStore(uri) as store:
        store.read(order_id)  # connect before the start signal
        out.put({"ready": worker})
        for number, (amounts, start) in enumerate(zip(phases, starts, strict=True)):
            if not start.wait(SIGNAL_TIMEOUT_S):
                return
            results = [
                pay(store, order_id, f"{worker}-{number}-{i}", amount)
                for i, amount in enumerate(amounts)
            ]
            out.put({"worker": worker, "phase": number, "results": results})

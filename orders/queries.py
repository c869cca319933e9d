"""Read an order from its own stream: its state now, at a revision, or as of a time.

Everything is decoded through the codec (and so the upcaster chain); nothing here reads a
read model. "As of T" folds the stream's events up to the last one that occurred (or, with
`by="recorded"`, was recorded) at or before T.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from orders.bootstrap import default_store
from orders.codec import RecordedOrderEvent, decode
from orders.decider import Cancelled, Delivered, NotPlaced, Placed, Shipped, fold
from orders.errors import InvalidCommand, OrderNotFound
from orders.logging import ensure_logging
from orders.ports import OrderStore

TimeBasis = Literal["occurred", "recorded"]


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order's state after the event at `revision`."""

    state: Placed
    revision: int
    as_of: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (money in minor units, times in ISO 8601 UTC)."""
        facts = self.state.facts
        described: dict[str, Any] = {
            "order_id": facts.order_id,
            "status": self.state.status.value,
            "customer_id": facts.customer_id,
            "currency": facts.currency,
            "total": facts.total,
            "paid": facts.paid,
            "refunded": facts.refunded,
            "outstanding": facts.outstanding,
            "revision": self.revision,
            "lines": [line.model_dump() for line in facts.lines],
            "shipping_address": _dump(facts.shipping_address),
            "placed_at": _iso(facts.placed_at),
            "paid_at": _iso(facts.paid_at),
            "as_of": _iso(self.as_of),
        }
        return described | _status_details(self.state)


def get_order(
    order_id: str,
    at_revision: int | None = None,
    as_of: datetime | None = None,
    *,
    by: TimeBasis = "occurred",
    store: OrderStore | None = None,
) -> OrderView:
    """The order now, after the event at `at_revision`, or as of `as_of` (timezone-aware).

    Raises OrderNotFound when the order does not exist (or did not yet exist at that
    point) and InvalidCommand for a revision past the end or a naive time.
    """
    _check_point(at_revision, as_of)
    limit = None if at_revision is None else at_revision + 1
    history = _history(order_id, store, limit)
    if at_revision is not None and history and history[-1].revision < at_revision:
        raise InvalidCommand(
            "at_revision", f"order {order_id} has revisions 0..{history[-1].revision} only"
        )
    if as_of is not None:
        history = _up_to(history, as_of, by)
    state = fold(recorded.event for recorded in history)
    if isinstance(state, NotPlaced):
        when = f" as of {as_of.isoformat()}" if as_of is not None else ""
        raise OrderNotFound(order_id, None, f"no order with this id{when}")
    return OrderView(state=state, revision=history[-1].revision, as_of=as_of)


def order_history(order_id: str, *, store: OrderStore | None = None) -> list[RecordedOrderEvent]:
    """Every event of the order's stream, decoded and upcast, with its metadata.

    Raises OrderNotFound when the stream does not exist.
    """
    history = _history(order_id, store, None)
    if not history:
        raise OrderNotFound(order_id, None, "no order with this id")
    return history


def _history(
    order_id: str, store: OrderStore | None, limit: int | None
) -> list[RecordedOrderEvent]:
    if not order_id.strip():
        raise InvalidCommand("order_id", "must not be empty")
    ensure_logging()
    source = store or default_store()
    return [decode(stored) for stored in source.read(order_id, limit=limit)]


def _check_point(at_revision: int | None, as_of: datetime | None) -> None:
    if at_revision is not None and as_of is not None:
        raise InvalidCommand("at_revision", "give either a revision or a time, not both")
    if at_revision is not None and at_revision < 0:
        raise InvalidCommand("at_revision", f"{at_revision} is negative")
    if as_of is not None and as_of.utcoffset() is None:
        raise InvalidCommand("as_of", "the time needs a timezone (e.g. 2024-03-01T10:00Z)")


def _up_to(
    history: list[RecordedOrderEvent], as_of: datetime, by: TimeBasis
) -> list[RecordedOrderEvent]:
    """The longest prefix of `history` whose events happened at or before `as_of`."""
    for index, recorded in enumerate(history):
        moment = recorded.occurred_at if by == "occurred" else recorded.recorded_at
        if moment is not None and moment > as_of:
            return history[:index]
    return history


def _status_details(state: Placed) -> dict[str, Any]:
    match state:
        case Shipped(shipment=s) | Delivered(shipment=s):
            details: dict[str, Any] = {"carrier": s.carrier, "tracking_number": s.tracking_number}
            details |= {"shipped_at": _iso(s.shipped_at)}
            if isinstance(state, Delivered):
                details["delivered_at"] = _iso(state.delivered_at)
            return details
        case Cancelled(reason=reason, cancelled_at=at):
            return {"cancel_reason": reason, "cancelled_at": _iso(at)}
        case _:
            return {}


def _dump(value: Any) -> Any:
    return None if value is None else value.model_dump()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")

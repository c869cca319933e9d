"""Idempotency keys: is a repeated command id the same request? Pure (no I/O, no clock).

A command id names one request: its kind, its order and its arguments. Events carry the
`fingerprint` of the command that decided them (metadata `command_hash`), so a later call
with the same command id can tell a true repeat ("already applied") from a different
request reusing the key (refused with `CommandIdReused`). Events stored before
fingerprints existed have none: for them a matching command id of the same kind is taken
as the same request, and only a different kind is refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from orders.commands import OrderCommand
from orders.events import OrderEvent

_KIND_OF_FIRST_EVENT: dict[str, str] = {
    "OrderPlaced": "PlaceOrder",
    "ShippingAddressChanged": "ChangeShippingAddress",
    "PaymentReceived": "RecordPayment",
    "OrderShipped": "ShipOrder",
    "OrderDelivered": "ConfirmDelivery",
    "OrderCancelled": "CancelOrder",
}
"""The first event each command emits -> that command's kind (see `decider.decide`)."""


def arguments(command: OrderCommand) -> dict[str, Any]:
    """What makes `command` one request: its kind, order id and arguments as JSON values.

    The command's time `at` is left out (a retry is issued later), and so are the ids that
    only label the request (command, correlation, causation), which are not fields.
    """
    return {"command": type(command).__name__} | command.model_dump(mode="json", exclude={"at"})


def fingerprint(command: OrderCommand) -> str:
    """A stable hash of `arguments(command)`: "sha256:" + hex of its canonical JSON.

    Two commands have the same fingerprint exactly when they are the same request.
    """
    canonical = json.dumps(
        arguments(command), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def request_mismatch(
    command: OrderCommand, first: OrderEvent, stored_fingerprint: str | None
) -> str | None:
    """How `command` differs from the earlier request under its command id, or None when
    it is the same request.

    `first` is the first event the earlier request appended and `stored_fingerprint` the
    `command_hash` stored with it (None for events written before fingerprints).
    """
    kind = type(command).__name__
    earlier = _KIND_OF_FIRST_EVENT.get(first.event_type)
    if earlier is not None and earlier != kind:
        return f"it was {earlier} (which appended {first.event_type}), this is {kind}"
    if stored_fingerprint is None or stored_fingerprint == fingerprint(command):
        return None
    recorded = first.model_dump(mode="json")
    given = arguments(command)
    differences = [
        f"{name} {json.dumps(recorded[name])} recorded, {json.dumps(value)} given"
        for name, value in given.items()
        if name not in {"command", "order_id"} and name in recorded and recorded[name] != value
    ]
    return f"same {kind}, different " + ("; ".join(differences) if differences else "arguments")

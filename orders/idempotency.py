"""Idempotency keys: is a repeated command id the same request? Pure (no I/O, no clock).

A command id names one request: its kind, its order and its arguments. Two records let a
later call with the same command id tell a true repeat ("already applied") from a
different request reusing the key (refused with `CommandIdReused`, nothing written):

- the events carry the `fingerprint` of the command that decided them (metadata
  `command_hash`), checked against the order's own stream (`request_mismatch`). Events
  stored before fingerprints existed have none: for them a matching command id of the
  same kind is taken as the same request, and only a different kind is refused;
- a caller-given command id is claimed, before the command's first append, by a
  `CommandIdClaimed` event (`claim_event`) as the one event of the stream
  `idempotency-{command uuid}`, so reusing the key on another order is seen too
  (`claim_mismatch`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid5

from orders.commands import OrderCommand
from orders.events import OrderEvent
from orders.ports import EncodedEvent, StoredEvent

CLAIM_TYPE = "CommandIdClaimed"
"""The type of the one event of an `idempotency-{command uuid}` stream."""

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
    return _differences(kind, first.model_dump(mode="json"), arguments(command))


def claim_event(command: OrderCommand, command_id: UUID, key: str) -> EncodedEvent:
    """The claim of `command_id` (given by the caller as `key`) by `command`.

    Its id is derived from the command id and the fingerprint, so the claim of a repeat
    is the same event (an idempotent append) and any other request's is a different one.
    """
    digest = fingerprint(command)
    data = {"command_id": key, "command_hash": digest, "arguments": arguments(command)}
    return EncodedEvent(
        id=uuid5(command_id, f"claim {digest}"),
        type=CLAIM_TYPE,
        data=json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
        metadata=json.dumps({"command_id": str(command_id)}).encode(),
    )


def claim_mismatch(command: OrderCommand, holder: StoredEvent) -> str | None:
    """How `command` differs from the request whose claim `holder` holds its command id,
    or None when it is the same request."""
    try:
        data = json.loads(holder.data)
        recorded = data["arguments"]
        same = data["command_hash"] == fingerprint(command)
        earlier = recorded["command"]
    except (ValueError, KeyError, TypeError):
        return f"the key is held by an unreadable {holder.type} in {holder.stream}"
    if same:
        return None
    kind = type(command).__name__
    if earlier != kind:
        return f"it was {earlier} on order {recorded.get('order_id')}, this is {kind}"
    return _differences(kind, recorded, arguments(command), compare_order=True)


def _differences(
    kind: str, recorded: dict[str, Any], given: dict[str, Any], *, compare_order: bool = False
) -> str:
    """`same <kind>, different <field> <was> recorded, <now> given; ...`."""
    skip = {"command"} if compare_order else {"command", "order_id"}
    differences = [
        f"{name} {json.dumps(recorded[name])} recorded, {json.dumps(value)} given"
        for name, value in given.items()
        if name not in skip and name in recorded and recorded[name] != value
    ]
    return f"same {kind}, different " + ("; ".join(differences) if differences else "arguments")

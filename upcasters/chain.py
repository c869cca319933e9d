"""The upcaster chain: the one place stored (type, schema_version, data) is brought current.

Every read path (aggregate loads, projectors, parked-event inspection, the CLI) decodes
through `upcast`. For now it knows only the current schemas and passes them through; the
legacy steps (see domain.md, "Legacy schemas") plug in here without changing the signature.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

CURRENT_VERSIONS: dict[str, int] = {
    "OrderPlaced": 3,
    "ShippingAddressChanged": 1,
    "PaymentReceived": 2,
    "OrderPaid": 1,
    "OrderShipped": 1,
    "OrderDelivered": 1,
    "OrderCancelled": 1,
    "RefundIssued": 1,
}
"""Stored event type -> its current schema version."""


class UnknownEventVersion(ValueError):  # noqa: N818  the name says what is unknown
    """No upcaster knows this (type, schema_version); names stream, revision, type, version."""

    def __init__(self, event_type: str, schema_version: int, *, stream: str, revision: int) -> None:
        self.event_type = event_type
        self.schema_version = schema_version
        self.stream = stream
        self.revision = revision
        super().__init__(
            f"no upcaster for event type {event_type!r} schema_version {schema_version}"
            f" at {stream}@{revision}"
        )


def upcast(
    event_type: str,
    schema_version: int,
    data: dict[str, Any],
    *,
    stream: str,
    revision: int,
    recorded_at: datetime,
) -> tuple[str, dict[str, Any]]:
    """Return (current type, current-version data) for a stored event.

    `stream`, `revision` and `recorded_at` give legacy steps what they may need (the order
    id from the stream name, a timestamp from the recorded time) and name the event in
    errors. Raises UnknownEventVersion for anything no step knows; never skips silently.
    """
    if CURRENT_VERSIONS.get(event_type) != schema_version:
        raise UnknownEventVersion(event_type, schema_version, stream=stream, revision=revision)
    return event_type, data

"""`orders.codec.decode` validates an event at its current schema in one pass from its JSON
bytes (the projectors' hot path) and sends everything else through the full path (parse,
upcaster chain, validate). Both must agree: the same decoded event, or the same error
naming stream, revision, type and version, for current and legacy events and for broken
variants of them (no server)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from readside_events import (
    address,
    at,
    cancelled,
    delivered,
    paid,
    payment,
    placed,
    refund,
    shipped,
)

from demo.legacy_seed import legacy_orders
from orders import codec
from orders.codec import CommandContext, RecordedOrderEvent
from orders.events import OrderEvent
from orders.ports import StoredEvent

CONTEXT = CommandContext(uuid.uuid4(), "corr", "cause", "user:test", at(0))
CURRENT: list[OrderEvent] = [
    placed(),
    placed(address=None, lines=3, currency="EUR"),
    payment(4_000),
    paid(),
    address(),
    shipped(),
    delivered(),
    cancelled(),
    refund(4_000),
]
VALUES: list[object] = [None, 0, -1, 1.0, 10**30, "", "x", "2024-01-01T00:00:00", True, [], {}]


def stored(index: int, event_type: str, data: bytes, metadata: bytes) -> StoredEvent:
    return StoredEvent(
        id=uuid.uuid4(),
        stream=f"order-{uuid.uuid4()}",
        revision=index,
        type=event_type,
        data=data,
        metadata=metadata,
        content_type="application/json",
        commit_position=1000 + index,
        recorded_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
    )


def originals() -> Iterator[StoredEvent]:
    for index, event in enumerate(CURRENT):
        encoded = codec.encode(event, CONTEXT, index)
        yield stored(index, encoded.type, encoded.data, encoded.metadata)
    for order in legacy_orders(12, seed=3):
        for index, legacy in enumerate(order.events):
            yield stored(index, legacy.type, legacy.data, legacy.metadata)


def variants(event: StoredEvent) -> Iterator[StoredEvent]:
    """The event, and broken or unusual versions of its data, metadata and recorded time."""
    yield event
    yield dataclasses.replace(event, recorded_at=None)
    raw = event.data
    for data in (
        b"",
        b"[]",
        b"null",
        b"\xef\xbb\xbf" + raw,
        raw.decode().encode("utf-16"),
        raw + b"x",
    ):
        yield dataclasses.replace(event, data=data)
        yield dataclasses.replace(event, data=data, recorded_at=None)
    fields = json.loads(raw)
    for key in fields:
        yield _with_data(event, {k: v for k, v in fields.items() if k != key})
        for value in VALUES:
            yield _with_data(event, fields | {key: value})
    yield _with_data(event, fields | {"unexpected": 1})
    yield dataclasses.replace(event, data=json.dumps(fields, indent=2).encode())
    for metadata in (b"", b"[]", b"{}", b'{"schema_version": 99}', b'{"schema_version": true}'):
        yield dataclasses.replace(event, metadata=metadata)
        yield dataclasses.replace(event, metadata=metadata, recorded_at=None)


def outcome(decode: Callable[[StoredEvent], RecordedOrderEvent], event: StoredEvent) -> object:
    try:
        return decode(event)
    except Exception as e:  # noqa: BLE001  the error itself is what is compared
        return (type(e).__name__, str(e))


def test_one_pass_and_full_path_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [variant for event in originals() for variant in variants(event)]
    one_pass = [outcome(codec.decode, case) for case in cases]
    monkeypatch.setattr(codec, "_current", lambda stored, version: None)
    full = [outcome(codec.decode, case) for case in cases]
    assert one_pass == full
    decoded = sum(isinstance(result, RecordedOrderEvent) for result in full)
    assert 0 < decoded < len(cases)  # both outcomes are exercised


def _with_data(event: StoredEvent, data: dict[str, object]) -> StoredEvent:
    return dataclasses.replace(event, data=json.dumps(data).encode())

"""What the command functions rely on from an `OrderStore`, for the fake and the real one."""

from __future__ import annotations

import uuid

import pytest

from orders.errors import ConcurrencyConflict
from orders.ports import EncodedEvent, OrderStore


def event(kind: str = "OrderPlaced", body: bytes = b'{"n": 1}') -> EncodedEvent:
    return EncodedEvent(uuid.uuid4(), kind, body, b'{"$correlationId": "c"}')


def new_order() -> str:
    return str(uuid.uuid4())


def test_a_missing_stream_reads_empty(order_store: OrderStore) -> None:
    assert list(order_store.read(new_order())) == []


def test_appends_number_revisions_from_zero_and_read_back_what_was_written(
    order_store: OrderStore,
) -> None:
    order = new_order()
    first, second, third = event(), event("OrderPaid", b'{"n": 2}'), event("OrderShipped")
    created = order_store.append(order, None, [first, second])
    more = order_store.append(order, 1, [third])
    assert (created.revision, more.revision) == (1, 2)
    assert more.commit_position > created.commit_position
    stored = order_store.read(order)
    assert [(e.id, e.revision, e.type, e.data) for e in stored] == [
        (first.id, 0, "OrderPlaced", b'{"n": 1}'),
        (second.id, 1, "OrderPaid", b'{"n": 2}'),
        (third.id, 2, "OrderShipped", b'{"n": 1}'),
    ]
    assert {e.stream for e in stored} == {f"order-{order}"}
    assert [e.id for e in order_store.read(order, from_revision=1, limit=1)] == [second.id]


@pytest.mark.parametrize("expected", [None, 0, 5])
def test_an_append_at_another_revision_conflicts_and_writes_nothing(
    order_store: OrderStore, expected: int | None
) -> None:
    order = new_order()
    order_store.append(order, None, [event(), event()])
    with pytest.raises(ConcurrencyConflict) as conflict:
        order_store.append(order, expected, [event()])
    assert conflict.value.expected_revision == expected
    assert len(order_store.read(order)) == 2


def test_an_append_to_a_missing_stream_at_a_revision_conflicts(order_store: OrderStore) -> None:
    with pytest.raises(ConcurrencyConflict):
        order_store.append(new_order(), 0, [event()])


def test_repeating_an_append_with_the_same_ids_writes_nothing(order_store: OrderStore) -> None:
    """EventStoreDB's idempotent append: a resend after a lost reply is not a conflict."""
    order, events = new_order(), [event(), event()]
    first = order_store.append(order, None, events)
    again = order_store.append(order, None, events)
    assert again.revision == first.revision == 1
    assert [e.id for e in order_store.read(order)] == [e.id for e in events]


def test_the_first_claim_of_a_key_holds_it(order_store: OrderStore) -> None:
    key, mine, theirs = uuid.uuid4(), event("Claimed"), event("Claimed", b'{"n": 2}')
    assert order_store.claim(key, mine) is None
    assert order_store.claim(key, mine) is None  # the same request again
    holder = order_store.claim(key, theirs)
    assert holder is not None
    assert (holder.id, holder.data, holder.revision) == (mine.id, mine.data, 0)

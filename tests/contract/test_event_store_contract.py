"""What a worker relies on from the read side's `EventStore` port, for the fake and the
esdbclient adapter on a real server: groups, at-least-once delivery, acks, nacks, gap reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from contract_support import ReadSide

from orders.ports import EncodedEvent
from projections.batch import Delivery
from projections.ports import GroupSettings, Subscription, Window

SETTINGS = GroupSettings(consumer_strategy="RoundRobin", message_timeout=30.0)
WINDOW = Window(batch_size=50, event_buffer_size=100, max_ack_batch_size=1, max_ack_delay=0.0)
DEADLINE = 10.0


def write_order(side: ReadSide, events: int) -> tuple[str, list[EncodedEvent]]:
    order = str(uuid.uuid4())
    encoded = [EncodedEvent(uuid.uuid4(), "OrderPlaced", b"{}", b"{}") for _ in range(events)]
    side.writer.append(order, None, encoded)
    return order, encoded


def take_until(subscription: Subscription, wanted: set[uuid.UUID]) -> list[Delivery]:
    """Deliveries until every id in `wanted` came (others, e.g. a real server's earlier
    order events, are kept too), within DEADLINE."""
    seen: list[Delivery] = []
    for _ in range(int(DEADLINE / 0.25)):
        seen += subscription.take(0.25, 0.01)
        if wanted <= {d.stored.id for d in seen}:
            return seen
    raise AssertionError(f"{len(wanted - {d.stored.id for d in seen})} events never came")


@pytest.fixture
def joined(read_side: ReadSide) -> Iterator[tuple[ReadSide, Subscription, bool]]:
    store = read_side.connect()
    subscription, created = store.subscribe(read_side.group, SETTINGS, WINDOW)
    try:
        yield read_side, subscription, created
    finally:
        subscription.stop()
        store.close()


def test_a_new_group_is_created_once(joined: tuple[ReadSide, Subscription, bool]) -> None:
    side, _, created = joined
    other = side.connect()
    try:
        _, again = other.subscribe(side.group, SETTINGS, WINDOW)
    finally:
        other.close()
    assert (created, again) == (True, False)


def test_every_order_event_is_delivered_as_stored(
    joined: tuple[ReadSide, Subscription, bool],
) -> None:
    side, subscription, _ = joined
    order, encoded = write_order(side, 3)
    side.writer.claim(uuid.uuid4(), EncodedEvent(uuid.uuid4(), "Claim", b"{}", b"{}"))
    ids = {e.id for e in encoded}
    mine = [d for d in take_until(subscription, ids) if d.stored.id in ids]
    stored = side.writer.read(order)
    assert [d.stored for d in mine] == list(stored)
    assert [d.retry_count for d in mine] == [0, 0, 0]
    assert all(d.stored.stream.startswith("order-") for d in mine)


def test_nothing_delivered_is_an_empty_batch_after_the_timeout(
    joined: tuple[ReadSide, Subscription, bool],
) -> None:
    _, subscription, _ = joined
    for delivery in subscription.take(1.0, 0.1):  # a real server's earlier events, if any
        subscription.ack(delivery.ack_id)
    assert subscription.take(0.3, 0.05) == []


def test_a_retry_nack_comes_back_with_its_retry_count_up(
    joined: tuple[ReadSide, Subscription, bool],
) -> None:
    side, subscription, _ = joined
    _, encoded = write_order(side, 1)
    target = encoded[0].id
    [first] = [d for d in take_until(subscription, {target}) if d.stored.id == target]
    subscription.nack(first.ack_id, "retry")
    again = [d for d in take_until(subscription, {target}) if d.stored.id == target]
    assert [d.retry_count for d in again] == [1]


def test_acked_events_are_not_sent_to_the_next_consumer_unacked_ones_are(
    joined: tuple[ReadSide, Subscription, bool],
) -> None:
    side, subscription, _ = joined
    _, encoded = write_order(side, 2)
    acked, unacked = encoded[0].id, encoded[1].id
    for delivery in take_until(subscription, {acked, unacked}):
        if delivery.stored.id != unacked:
            subscription.ack(delivery.ack_id)
    subscription.stop()  # leaves with `unacked` in flight
    store = side.connect()
    try:
        successor, _ = store.subscribe(side.group, SETTINGS, WINDOW)
        redelivered = take_until(successor, {unacked})
        successor.take(0.5, 0.05)
        successor.stop()
    finally:
        store.close()
    ids = [d.stored.id for d in redelivered]
    assert unacked in ids
    assert acked not in ids


def test_a_parked_event_is_not_sent_again(joined: tuple[ReadSide, Subscription, bool]) -> None:
    side, subscription, _ = joined
    _, encoded = write_order(side, 2)
    poison, fine = encoded[0].id, encoded[1].id
    for delivery in take_until(subscription, {poison, fine}):
        if delivery.stored.id == poison:
            subscription.nack(delivery.ack_id, "park")
        else:
            subscription.ack(delivery.ack_id)
    later = [d.stored.id for d in subscription.take(1.0, 0.1)]
    assert poison not in later


def test_gap_reads_return_the_asked_revisions(read_side: ReadSide) -> None:
    order, encoded = write_order(read_side, 4)
    store = read_side.connect()
    try:
        middle = store.read(f"order-{order}", 1, 2)
        beyond = store.read(f"order-{order}", 3, 9)
        missing = store.read(f"order-{uuid.uuid4()}", 0, 3)
    finally:
        store.close()
    assert [(e.id, e.revision) for e in middle] == [(encoded[1].id, 1), (encoded[2].id, 2)]
    assert [e.revision for e in beyond] == [3]
    assert list(missing) == []

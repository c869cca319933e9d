"""Persistent-subscription delivery through the real esdbclient: inclusive starts,
acks and every nack action, message timeouts and retries, parking and replay,
the consumer strategies, subscriber limits, redelivery when a consumer leaves,
links and `$all` filters (`docs/esdb-protocol.md` 1.7)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import InternalError, MaximumSubscriptionsReached
from esdbclient.persistent import SubscriptionInfo
from persistent_support import (
    DEADLINE,
    append,
    events,
    group_name,
    parked_stream,
    raw_info,
    raw_replay_parked,
    settled,
    take,
)

from esdb_emulator.testing.waiting import wait_until

# -- starts -------------------------------------------------------------------------


def test_stream_group_delivers_from_its_start_revision_inclusive(
    client: EventStoreDBClient, stream_name: str
) -> None:
    written = events(4)
    append(client, stream_name, written)
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, stream_position=1)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    assert [e.id for e in take(subscription, 3)] == [e.id for e in written[1:]]
    subscription.stop()


def test_all_group_delivers_from_its_commit_position_inclusive(
    client: EventStoreDBClient, stream_name: str
) -> None:
    first, rest = events(1), events(2)
    position = append(client, stream_name, first)
    append(client, stream_name, rest)
    group = group_name()
    client.create_subscription_to_all(group, commit_position=position)
    subscription = client.read_subscription_to_all(group, timeout=DEADLINE)
    assert [e.id for e in take(subscription, 3)] == [e.id for e in first + rest]
    subscription.stop()


def test_from_end_is_fixed_at_creation_so_events_before_any_consumer_arrive(
    client: EventStoreDBClient, stream_name: str
) -> None:
    append(client, stream_name, events(3))
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, from_end=True)
    later = events(2)
    append(client, stream_name, later)  # no consumer yet
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    received = take(subscription, 2)
    assert [e.id for e in received] == [e.id for e in later]
    assert [e.retry_count for e in received] == [0, 0]
    subscription.stop()


# -- acks and nacks ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ["retry", "unknown"])
def test_nack_retry_and_unknown_redeliver_with_retry_count_one(
    client: EventStoreDBClient, stream_name: str, action: str
) -> None:
    written = events(3)
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 3, ack=False):
        subscription.nack(event, action=action)  # type: ignore[arg-type]
    again = take(subscription, 3)
    assert [(e.id, e.retry_count) for e in again] == [(e.id, 1) for e in written]
    wait_until(lambda: settled(client, group, stream_name), 10.0, "every redelivery to be acked")
    subscription.stop()


@pytest.mark.parametrize("action", ["skip", "stop"])
def test_nack_skip_and_stop_let_the_event_go_without_redelivery(
    client: EventStoreDBClient, stream_name: str, action: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, message_timeout=1.0)
    append(client, stream_name, events(2))
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 2, ack=False):
        subscription.nack(event, action=action)  # type: ignore[arg-type]
    wait_until(lambda: settled(client, group, stream_name), 10.0, "the nacks to be applied")
    sentinel = events(1)
    append(client, stream_name, sentinel)
    assert [e.id for e in take(subscription, 1)] == [sentinel[0].id]
    assert client.get_subscription_info(group, stream_name).parked_message_count == 0
    subscription.stop()


def test_nack_park_writes_a_link_to_the_parked_stream(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    written = events(2)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 2, ack=False):
        subscription.nack(event, action="park")
    wait_until(
        lambda: client.get_subscription_info(group, stream_name).parked_message_count == 2,
        10.0,
        "two parked events",
    )
    links = client.get_stream(parked_stream(stream_name, group))
    assert [link.type for link in links] == ["$>", "$>"]
    assert [link.data for link in links] == [f"{n}@{stream_name}".encode() for n in (0, 1)]
    reason = json.loads(links[0].metadata)["reason"]
    assert reason.startswith("Client explicitly NAK'ed message.")
    assert settled(client, group, stream_name)
    subscription.stop()


def test_unknown_and_repeated_acks_are_ignored(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    written = events(2)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    first = take(subscription, 1)[0]
    subscription.ack(first)  # again
    subscription.ack(uuid.uuid4())  # never delivered
    assert take(subscription, 1)[0].id == written[1].id
    wait_until(lambda: settled(client, group, stream_name), 10.0, "the group to settle")
    subscription.stop()


# -- message timeouts, retries and parking ----------------------------------------------


@pytest.mark.parametrize(
    ("buffer_size", "order"),
    [
        # One slot: the timed-out first event comes back before the second is sent.
        (1, [(0, 0), (0, 1), (1, 0), (2, 0)]),
        # Ten slots: all three are out already, so the retry comes after them.
        (10, [(0, 0), (1, 0), (2, 0), (0, 1)]),
    ],
    ids=["one-slot", "ten-slots"],
)
def test_a_timed_out_event_is_redelivered_in_buffer_order(
    client: EventStoreDBClient, stream_name: str, buffer_size: int, order: list[tuple[int, int]]
) -> None:
    """The first event is never acked on first delivery and times out after 1 s."""
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, message_timeout=1.0)
    written = events(3)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=buffer_size, max_ack_batch_size=1, timeout=DEADLINE
    )
    received = []
    for event in subscription:
        received.append(event)
        if not (event.id == written[0].id and event.retry_count == 0):
            subscription.ack(event)
        if len(received) == 4:
            break
    expected = [(written[index].id, retries) for index, retries in order]
    assert [(e.id, e.retry_count) for e in received] == expected
    subscription.stop()


def test_an_event_past_max_retry_count_is_parked_and_the_rest_flow_on(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, message_timeout=0.2, max_retry_count=3)
    written = events(3)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=1, timeout=DEADLINE
    )
    received = []
    for event in subscription:
        received.append(event)
        if event.id != written[0].id:
            subscription.ack(event)
        if len(received) == 6:
            break
    assert [(e.id, e.retry_count) for e in received] == [
        *((written[0].id, n) for n in range(4)),
        (written[1].id, 0),
        (written[2].id, 0),
    ]
    wait_until(
        lambda: client.get_subscription_info(group, stream_name).parked_message_count == 1,
        10.0,
        "the poison event to be parked",
    )
    links = client.get_stream(parked_stream(stream_name, group))
    assert json.loads(links[0].metadata)["reason"] == "Reached retry count of 3"
    subscription.stop()


def test_replay_parked_redelivers_parked_events_as_links_before_new_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    poison = events(3)
    append(client, stream_name, poison)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 3, ack=False):
        subscription.nack(event, action="park")
    wait_until(
        lambda: client.get_subscription_info(group, stream_name).parked_message_count == 3,
        10.0,
        "three parked events",
    )
    subscription.stop()
    fresh = events(2)
    append(client, stream_name, fresh)  # buffered for the group, not yet delivered
    client.replay_parked_events(group, stream_name)
    assert client.get_subscription_info(group, stream_name).parked_message_count == 0
    consumer = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    received = take(consumer, 5)
    assert [e.id for e in received] == [e.id for e in poison + fresh]
    replayed = received[:3]
    assert all(e.link is not None and e.ack_id == e.link.id for e in replayed)
    assert {e.link.stream_name for e in replayed if e.link} == {parked_stream(stream_name, group)}
    assert [e.retry_count for e in received] == [0] * 5
    wait_until(lambda: settled(client, group, stream_name), 10.0, "the replayed events to be acked")
    consumer.stop()


def test_a_replayed_event_parked_again_is_parked_again(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    append(client, stream_name, events(1))
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    subscription.nack(take(subscription, 1, ack=False)[0], action="park")

    def count() -> int:
        return client.get_subscription_info(group, stream_name).parked_message_count

    wait_until(lambda: count() == 1, 10.0, "the event to be parked")
    client.replay_parked_events(group, stream_name)
    assert count() == 0
    replayed = take(subscription, 1, ack=False)[0]
    assert replayed.link is not None
    subscription.nack(replayed, action="park")
    wait_until(lambda: count() == 1, 10.0, "the replayed event to be parked again")
    links = client.get_stream(parked_stream(stream_name, group))
    assert [link.data for link in links] == [f"0@{stream_name}".encode()]  # truncated + new
    subscription.stop()


def test_replay_parked_with_stop_at_replays_only_the_events_parked_before_it(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    written = events(3)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 3, ack=False):
        subscription.nack(event, action="park")

    def parked() -> int:
        return client.get_subscription_info(group, stream_name).parked_message_count

    wait_until(lambda: parked() == 3, 10.0, "three parked events")
    raw_replay_parked(esdb_uri, group, stream_name, stop_at=2)
    assert parked() == 1
    replayed = take(subscription, 2)
    assert [e.id for e in replayed] == [e.id for e in written[:2]]
    assert all(e.link is not None for e in replayed)
    with pytest.raises(InternalError, match="negative version"):
        raw_replay_parked(esdb_uri, group, stream_name, stop_at=-1)
    subscription.stop()


def test_the_parked_count_counts_parked_links_not_their_events_revisions(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    # Events 1 and 2 are parked as links 0 and 1: after replaying link 0 one stays
    # parked. (The count once took the first link's *event* revision, 2, and said 0.)
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    append(client, stream_name, events(3))
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    first, *rest = take(subscription, 3, ack=False)
    subscription.ack(first)
    for event in rest:
        subscription.nack(event, action="park")

    def parked() -> int:
        return client.get_subscription_info(group, stream_name).parked_message_count

    wait_until(lambda: parked() == 2, 10.0, "two parked events")
    raw_replay_parked(esdb_uri, group, stream_name, stop_at=1)
    [replayed] = take(subscription, 1, ack=False)
    assert replayed.id == rest[0].id
    assert parked() == 1
    subscription.nack(replayed, action="park")  # parked again: two links wait
    wait_until(lambda: parked() == 2, 10.0, "the replayed event parked again")
    assert len(client.get_stream(parked_stream(stream_name, group))) == 2
    subscription.stop()


def test_a_consumer_that_has_room_gets_more_than_a_buffer_full_without_acking(
    client: EventStoreDBClient, stream_name: str
) -> None:
    # The group reads ahead at most history_buffer_size events; a consumer taking
    # them must make it read on at once, not when a message timeout fires.
    append(client, stream_name, events(700))
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, message_timeout=60)
    subscription = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=1000, timeout=10
    )
    received = take(subscription, 700, ack=False)
    assert [e.stream_position for e in received] == list(range(700))
    subscription.stop()


# -- strategies and consumers ----------------------------------------------------------


def test_round_robin_alternates_between_two_consumers(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, consumer_strategy="RoundRobin")
    first = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    second = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    written = events(4)
    append(client, stream_name, written)
    got_first = take(first, 2)
    got_second = take(second, 2)
    assert [e.id for e in got_first] == [written[0].id, written[2].id]
    assert [e.id for e in got_second] == [written[1].id, written[3].id]
    first.stop()
    second.stop()


def test_dispatch_to_single_fills_one_consumer_before_the_next(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)  # DispatchToSingle by default
    first = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=2, timeout=DEADLINE
    )
    second = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=2, timeout=DEADLINE
    )
    written = events(4)
    append(client, stream_name, written)
    assert [e.id for e in take(first, 2, ack=False)] == [e.id for e in written[:2]]
    assert [e.id for e in take(second, 2, ack=False)] == [e.id for e in written[2:]]
    first.stop()
    second.stop()


def test_pinned_keeps_each_stream_with_one_consumer(client: EventStoreDBClient) -> None:
    prefix = f"pinned-{uuid.uuid4().hex}-"
    group = group_name()
    client.create_subscription_to_all(
        group,
        from_end=True,
        consumer_strategy="Pinned",
        filter_include=[prefix + ".*"],
        filter_by_stream_name=True,
    )
    consumers = [client.read_subscription_to_all(group, timeout=DEADLINE) for _ in range(2)]
    streams = [f"{prefix}{n}" for n in range(8)]
    for _ in range(3):
        for stream in streams:
            append(client, stream, events(1))
    owners: dict[str, set[int]] = {}
    received = 0
    while received < 24:  # the two consumers share the 24 events; read whoever has one
        for index, subscription in enumerate(consumers):
            for event in take(subscription, 1):
                owners.setdefault(event.stream_name, set()).add(index)
                received += 1
            if received == 24:
                break
    assert set(owners) == set(streams)
    assert all(len(owner) == 1 for owner in owners.values())
    for subscription in consumers:
        subscription.stop()


def test_max_subscriber_count_refuses_one_more_consumer(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, max_subscriber_count=2)
    consumers = [
        client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE) for _ in range(2)
    ]
    with pytest.raises(MaximumSubscriptionsReached):
        client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    consumers.pop().stop()
    wait_until(
        lambda: len(raw_info(esdb_uri, group, stream_name).connections) == 1,
        10.0,
        "the stopped consumer to leave",
    )
    consumers.append(client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE))
    for subscription in consumers:
        subscription.stop()


def test_max_subscriber_count_zero_means_no_limit(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, max_subscriber_count=0)
    consumers = [
        client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE) for _ in range(7)
    ]
    assert len(raw_info(esdb_uri, group, stream_name).connections) == 7
    for subscription in consumers:
        subscription.stop()


def test_a_consumer_that_leaves_has_its_in_flight_events_redelivered_to_another(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    leaving = client.read_subscription_to_stream(
        group, stream_name, event_buffer_size=3, timeout=DEADLINE
    )
    written = events(3)
    append(client, stream_name, written)
    take(leaving, 3, ack=False)
    staying = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    leaving.stop()
    received = take(staying, 3)
    assert [(e.id, e.retry_count) for e in received] == [(e.id, 1) for e in written]
    staying.stop()


def test_info_reports_connections_in_flight_counts_and_checkpoints(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(
        group, stream_name, min_checkpoint_count=1, max_checkpoint_count=1
    )
    append(client, stream_name, events(5))
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 2)
    take(subscription, 3, ack=False)

    def checkpointed() -> SubscriptionInfo | None:
        info = client.get_subscription_info(group, stream_name)
        return info if info.last_checkpointed_event_position == "1" else None

    info = wait_until(checkpointed, 10.0, "a checkpoint after the two acked events")
    assert (info.status, info.last_known_event_position, info.total_items) == ("Live", "4", 5)
    assert (info.total_in_flight_messages, info.outstanding_messages_count) == (3, 3)
    (connection,) = raw_info(esdb_uri, group, stream_name).connections
    assert (connection.in_flight_messages, connection.available_slots) == (3, 147)
    assert (connection.total_items, connection.username) == (5, "anonymous")
    assert connection.connection_name not in ("", "<unknown>")
    checkpoints = client.get_stream(f"$persistentsubscription-{stream_name}::{group}-checkpoint")
    assert (checkpoints[-1].type, checkpoints[-1].data) == ("$SubscriptionCheckpoint", b'"1"')
    subscription.stop()


# -- links and filters --------------------------------------------------------------------


def test_resolved_links_are_delivered_as_their_events_and_acked_by_link_id(
    client: EventStoreDBClient, stream_name: str
) -> None:
    targets = events(2)
    append(client, stream_name, targets)
    links_stream = f"links-{uuid.uuid4().hex}"
    links = [NewEvent(type="$>", data=f"{n}@{stream_name}".encode()) for n in range(2)]
    append(client, links_stream, links)
    resolving, raw = group_name(), group_name()
    client.create_subscription_to_stream(resolving, links_stream, resolve_links=True)
    client.create_subscription_to_stream(raw, links_stream)
    subscription = client.read_subscription_to_stream(resolving, links_stream, timeout=DEADLINE)
    received = take(subscription, 2)
    assert [e.id for e in received] == [e.id for e in targets]
    assert [e.ack_id for e in received] == [link.id for link in links]
    wait_until(lambda: settled(client, resolving, links_stream), 10.0, "acks by link id")
    unresolved = client.read_subscription_to_stream(raw, links_stream, timeout=DEADLINE)
    assert [e.type for e in take(unresolved, 2)] == ["$>", "$>"]
    subscription.stop()
    unresolved.stop()


def test_all_group_delivers_only_what_its_filter_lets_through(client: EventStoreDBClient) -> None:
    prefix = f"wanted-{uuid.uuid4().hex}"
    group = group_name()
    client.create_subscription_to_all(
        group, from_end=True, filter_include=[prefix + "-.*"], filter_by_stream_name=True
    )
    append(client, f"other-{uuid.uuid4().hex}", events(3))
    wanted = events(2)
    append(client, f"{prefix}-1", wanted)
    subscription = client.read_subscription_to_all(group, timeout=DEADLINE)
    assert [e.id for e in take(subscription, 2)] == [e.id for e in wanted]
    subscription.stop()


# -- the asyncio client ------------------------------------------------------------------


def test_the_asyncio_client_consumes_acks_and_retries(esdb_uri: str, stream_name: str) -> None:
    async def scenario() -> list[tuple[uuid.UUID, int]]:
        client = AsyncEventStoreDBClient(esdb_uri)
        await client.connect()
        try:
            group = group_name()
            await client.create_subscription_to_stream(group, stream_name)
            written = events(2)
            await client.append_to_stream(
                stream_name, current_version=StreamState.ANY, events=written
            )
            subscription = await client.read_subscription_to_stream(
                group, stream_name, timeout=DEADLINE
            )
            received = []
            async for event in subscription:
                received.append((event.id, event.retry_count or 0))
                if event.retry_count == 0:
                    await subscription.nack(event, action="retry")
                else:
                    await subscription.ack(event)
                if len(received) == 4:
                    break
            await subscription.stop()
            return received
        finally:
            await client.close()

    received = asyncio.run(scenario())
    assert sorted(retry for _, retry in received) == [0, 0, 1, 1]
    assert len({event_id for event_id, _ in received}) == 2

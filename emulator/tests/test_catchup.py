"""Catch-up subscriptions through the real esdbclient (`docs/esdb-protocol.md` 1.6).

Exclusive starts, `from_end`, `caught_up`, checkpoints of filtered `$all`
subscriptions, waiting on missing streams, tombstoned streams, stopping, and the
hand-over from history to live while other clients append: every event exactly
once and in order. Subscriptions carry a gRPC deadline so a missing event fails
the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdbclient.events import CaughtUp, Checkpoint, RecordedEvent
from esdbclient.exceptions import StreamIsDeleted

from esdb_emulator.node.server import EmulatorConfig, ThreadedEmulator

DEADLINE = 30.0


def event(n: int = 0, event_type: str = "Thing") -> NewEvent:
    return NewEvent(type=event_type, data=f'{{"n":{n}}}'.encode())


def write(client: EventStoreDBClient, stream: str, count: int, start: int = 0) -> list[NewEvent]:
    events = [event(n) for n in range(start, start + count)]
    client.append_to_stream(stream, current_version=StreamState.ANY, events=events)
    return events


def take(subscription: Iterator[Any], count: int) -> list[Any]:
    """The next `count` items of a subscription (events, checkpoints, caught-up)."""
    items = []
    for item in subscription:
        items.append(item)
        if len(items) == count:
            break
    return items


def ids(items: list[Any]) -> list[uuid.UUID]:
    return [item.id for item in items if isinstance(item, RecordedEvent)]


# -- stream subscriptions --------------------------------------------------------------


def test_stream_subscription_sends_history_then_caught_up_then_live_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    history = write(client, stream_name, 3)
    subscription = client.subscribe_to_stream(stream_name, include_caught_up=True, timeout=DEADLINE)
    live = write(client, stream_name, 2, start=3)

    items = take(subscription, 6)
    subscription.stop()

    assert ids(items[:3]) == [e.id for e in history]
    assert isinstance(items[3], CaughtUp)
    assert ids(items[4:]) == [e.id for e in live]


def test_stream_subscription_from_a_revision_starts_after_it(
    client: EventStoreDBClient, stream_name: str
) -> None:
    events = write(client, stream_name, 4)

    with client.subscribe_to_stream(stream_name, stream_position=1, timeout=DEADLINE) as sub:
        received = take(sub, 2)

    assert ids(received) == [events[2].id, events[3].id]
    assert [e.stream_position for e in received] == [2, 3]


def test_stream_subscription_from_end_sees_only_later_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 2)
    subscription = client.subscribe_to_stream(
        stream_name, from_end=True, include_caught_up=True, timeout=DEADLINE
    )
    later = write(client, stream_name, 1, start=2)

    items = take(subscription, 2)
    subscription.stop()

    assert isinstance(items[0], CaughtUp)
    assert ids(items[1:]) == [later[0].id]


def test_subscription_to_a_missing_stream_waits_for_its_first_event(
    client: EventStoreDBClient, stream_name: str
) -> None:
    subscription = client.subscribe_to_stream(stream_name, include_caught_up=True, timeout=DEADLINE)
    first = write(client, stream_name, 1)

    items = take(subscription, 2)
    subscription.stop()

    assert ids(items[:1]) == [first[0].id]
    assert isinstance(items[1], CaughtUp)


def test_subscription_to_a_tombstoned_stream_is_refused(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    with pytest.raises(StreamIsDeleted):
        client.subscribe_to_stream(stream_name, timeout=DEADLINE)


def test_live_subscription_ends_with_stream_is_deleted_when_the_stream_is_tombstoned(
    client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 1)
    subscription = client.subscribe_to_stream(stream_name, timeout=DEADLINE)
    take(subscription, 1)

    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    with pytest.raises(StreamIsDeleted):
        take(subscription, 1)


def test_stopped_subscription_ends_iteration_and_the_server_keeps_serving(
    client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 2)
    subscription = client.subscribe_to_stream(stream_name, timeout=DEADLINE)
    take(subscription, 1)

    subscription.stop()

    assert list(subscription) == []
    with client.subscribe_to_stream(stream_name, timeout=DEADLINE) as again:
        assert len(ids(take(again, 2))) == 2


# -- $all subscriptions ---------------------------------------------------------------------


def test_all_subscription_from_a_commit_position_starts_after_it(
    client: EventStoreDBClient, stream_name: str
) -> None:
    first = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=[event(0)]
    )
    rest = write(client, stream_name, 2, start=1)

    with client.subscribe_to_all(
        commit_position=first,
        filter_include=[stream_name],
        filter_by_stream_name=True,
        timeout=DEADLINE,
    ) as subscription:
        received = take(subscription, 2)

    assert ids(received) == [e.id for e in rest]


def test_all_subscription_from_end_sees_only_later_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 1)
    subscription = client.subscribe_to_all(
        from_end=True, filter_include=[stream_name], filter_by_stream_name=True, timeout=DEADLINE
    )
    later = write(client, stream_name, 2, start=1)

    received = take(subscription, 2)
    subscription.stop()

    assert ids(received) == [e.id for e in later]


def test_all_subscription_reports_caught_up_even_when_nothing_matches(
    client: EventStoreDBClient, stream_name: str
) -> None:
    position = client.get_commit_position()
    write(client, stream_name, 1)

    with client.subscribe_to_all(
        commit_position=position, filter_exclude=[".*"], include_caught_up=True, timeout=DEADLINE
    ) as subscription:
        [item] = take(subscription, 1)

    assert isinstance(item, CaughtUp)


def test_filtered_all_subscription_checkpoints_though_nothing_matches(
    client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 3)

    with client.subscribe_to_all(
        filter_exclude=[".*"],
        include_checkpoints=True,
        window_size=1,
        checkpoint_interval_multiplier=1,
        timeout=DEADLINE,
    ) as subscription:
        [checkpoint] = take(subscription, 1)

    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.commit_position is not None
    assert 0 < checkpoint.commit_position <= client.get_commit_position(filter_exclude=[])


def test_checkpoints_follow_the_window_and_never_pass_the_last_commit(
    client: EventStoreDBClient, stream_name: str
) -> None:
    start = client.get_commit_position(filter_exclude=[])
    write(client, stream_name, 7)
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=[".*"],
        include_checkpoints=True,
        include_caught_up=True,
        window_size=3,
        checkpoint_interval_multiplier=1,
        timeout=DEADLINE,
    )
    items: list[Any] = []
    for item in subscription:
        if isinstance(item, CaughtUp):
            break
        items.append(item)
    subscription.stop()
    last_commit = client.get_commit_position(filter_exclude=[])

    positions = [i.commit_position for i in items]
    assert positions == sorted(positions)
    assert all(0 < p <= last_commit for p in positions)
    events_between = 0
    for item in items:
        if isinstance(item, Checkpoint):
            assert 0 < events_between <= 3
            events_between = 0
        else:
            events_between += 1
    assert sum(isinstance(i, Checkpoint) for i in items) >= 2


# -- hand-over from history to live under concurrent appends ---------------------------------


def append_concurrently(
    uri: str, streams: list[str], per_writer: int, started: threading.Barrier
) -> tuple[list[threading.Thread], list[uuid.UUID]]:
    """One thread per stream appending `per_writer` single events once `started` trips."""
    written: list[uuid.UUID] = []
    lock = threading.Lock()

    def writer(stream: str) -> None:
        with EventStoreDBClient(uri) as own:
            started.wait(timeout=DEADLINE)
            for n in range(per_writer):
                new = event(n)
                own.append_to_stream(stream, current_version=StreamState.ANY, events=new)
                with lock:
                    written.append(new.id)

    threads = [threading.Thread(target=writer, args=(s,), daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    return threads, written


def test_stream_subscription_sees_every_event_once_while_writers_append_during_catch_up(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    history = 600  # several pages of history
    writers, per_writer = 4, 50
    for chunk in range(0, history, 200):
        write(client, stream_name, 200, start=chunk)
    started = threading.Barrier(writers + 1)
    threads, _ = append_concurrently(esdb_uri, [stream_name] * writers, per_writer, started)

    subscription = client.subscribe_to_stream(stream_name, timeout=DEADLINE)
    started.wait(timeout=DEADLINE)
    received = take(subscription, history + writers * per_writer)
    subscription.stop()
    for thread in threads:
        thread.join(timeout=DEADLINE)

    stored = client.get_stream(stream_name)
    assert [e.stream_position for e in received] == list(range(len(stored)))
    assert ids(received) == [e.id for e in stored]


def test_all_subscription_sees_every_event_once_in_order_while_writers_append(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str
) -> None:
    writers, per_writer = 4, 40
    start = client.get_commit_position(filter_exclude=[])
    seed = write(client, f"{stream_name}-seed", 300)
    streams = [f"{stream_name}-{n}" for n in range(writers)]
    started = threading.Barrier(writers + 1)
    threads, written = append_concurrently(esdb_uri, streams, per_writer, started)

    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=[f"{stream_name}-.*"],
        filter_by_stream_name=True,
        timeout=DEADLINE,
    )
    started.wait(timeout=DEADLINE)
    received = take(subscription, len(seed) + writers * per_writer)
    subscription.stop()
    for thread in threads:
        thread.join(timeout=DEADLINE)

    positions = [e.commit_position for e in received]
    assert positions == sorted(set(positions))
    assert ids(received)[: len(seed)] == [e.id for e in seed]
    assert sorted(ids(received)[len(seed) :]) == sorted(written)


# -- asyncio client -----------------------------------------------------------------------------


def test_async_stream_subscription_catches_up_goes_live_and_stops(
    esdb_uri: str, client: EventStoreDBClient, stream_name: str
) -> None:
    history = write(client, stream_name, 2)

    async def scenario() -> list[Any]:
        aclient = AsyncEventStoreDBClient(esdb_uri)
        await aclient.connect()
        try:
            subscription = await aclient.subscribe_to_stream(
                stream_name, include_caught_up=True, timeout=DEADLINE
            )
            items = [await anext(subscription) for _ in range(3)]
            await aclient.append_to_stream(stream_name, current_version=1, events=[event(2)])
            items.append(await anext(subscription))
            await subscription.stop()
            items.extend([item async for item in subscription])
            return items
        finally:
            await aclient.close()

    items = asyncio.run(scenario())

    assert ids(items[:2]) == [e.id for e in history]
    assert isinstance(items[2], CaughtUp)
    assert items[3].stream_position == 2
    assert len(items) == 4


def test_async_subscription_to_a_tombstoned_stream_is_refused(
    esdb_uri: str, client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    async def subscribe() -> None:
        aclient = AsyncEventStoreDBClient(esdb_uri)
        await aclient.connect()
        try:
            await aclient.subscribe_to_stream(stream_name, timeout=DEADLINE)
        finally:
            await aclient.close()

    with pytest.raises(StreamIsDeleted):
        asyncio.run(subscribe())


def test_async_all_subscription_checkpoints_with_nothing_matching(
    esdb_uri: str, client: EventStoreDBClient, stream_name: str
) -> None:
    write(client, stream_name, 2)

    async def first_item() -> Any:
        aclient = AsyncEventStoreDBClient(esdb_uri)
        await aclient.connect()
        try:
            subscription = await aclient.subscribe_to_all(
                filter_exclude=[".*"],
                include_checkpoints=True,
                window_size=1,
                checkpoint_interval_multiplier=1,
                timeout=DEADLINE,
            )
            async with subscription:
                return await anext(subscription)
        finally:
            await aclient.close()

    assert isinstance(asyncio.run(first_item()), Checkpoint)


# -- cancellation leaves nothing behind on the server ----------------------------------------


def server_tasks(emulator: ThreadedEmulator) -> int:
    """How many asyncio tasks the in-process server's loop is running."""

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    # ThreadedEmulator has no public accessor for its loop; the count needs that loop.
    return asyncio.run_coroutine_threadsafe(count(), emulator.loop).result(DEADLINE)


def test_cancelled_subscriptions_and_batch_appends_leave_no_server_tasks() -> None:
    with (
        ThreadedEmulator(EmulatorConfig(db_path=None, port=0)) as emulator,
        EventStoreDBClient(emulator.uri) as client,
    ):
        write(client, "leak-check", 3)
        baseline = server_tasks(emulator)
        subscriptions = [
            client.subscribe_to_stream("leak-check", timeout=DEADLINE),
            client.subscribe_to_stream("leak-check-missing", timeout=DEADLINE),
            client.subscribe_to_all(timeout=DEADLINE),
            client.subscribe_to_all(filter_exclude=[".*"], window_size=1, timeout=DEADLINE),
        ]
        assert server_tasks(emulator) >= baseline + len(subscriptions)

        for subscription in subscriptions:
            subscription.stop()
        asyncio.run(cancelled_batch_appends(emulator.uri, "leak-check"))

        deadline = time.monotonic() + DEADLINE
        while server_tasks(emulator) > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_tasks(emulator) <= baseline


async def cancelled_batch_appends(uri: str, stream: str) -> None:
    """Asyncio appends: esdbclient cancels each BatchAppend call after its reply."""
    aclient = AsyncEventStoreDBClient(uri)
    await aclient.connect()
    try:
        for n in range(3):
            await aclient.append_to_stream(
                stream, current_version=StreamState.ANY, events=[event(n)]
            )
    finally:
        await aclient.close()

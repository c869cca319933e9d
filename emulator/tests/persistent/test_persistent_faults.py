"""Persistent subscriptions under real faults (`docs/reliability.md` F1, F3, F12):
the server killed with SIGKILL and restarted, a consumer process killed with
events in flight, and groups updated or deleted under their consumers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import GrpcError, NotFound
from persistent_support import (
    DEADLINE,
    append,
    checkpoint_stream,
    events,
    group_name,
    parked_stream,
    settled,
    take,
)

from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until

CONSUMER = Path(__file__).with_name("consumer_process.py")


@pytest.fixture
def node_client(emulator: EmulatorProcess) -> Iterator[EventStoreDBClient]:
    """A client on the test's own emulator (reconnects by itself after a restart)."""
    client = EventStoreDBClient(emulator.uri)
    try:
        yield client
    finally:
        client.close()


def _last_checkpoint(client: EventStoreDBClient, stream: str, group: str) -> str | None:
    try:
        stored = client.get_stream(checkpoint_stream(stream, group), backwards=True, limit=1)
    except NotFound:
        return None
    return stored[0].data.decode() if stored else None


# -- the server killed -----------------------------------------------------------------


@pytest.mark.emulator_only
def test_after_kill_9_consumers_resume_from_the_checkpoint_never_past_an_unacked_event(
    emulator: EmulatorProcess, node_client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    node_client.create_subscription_to_stream(
        group,
        stream_name,
        min_checkpoint_count=1,
        max_checkpoint_count=1,
        checkpoint_after=0.2,
        message_timeout=60,
    )
    written = events(8)
    append(node_client, stream_name, written)
    subscription = node_client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    for event in take(subscription, 8, ack=False):
        if event.id != written[4].id:  # e4 stays in flight
            subscription.ack(event)
    wait_until(
        lambda: (
            node_client.get_subscription_info(group, stream_name).outstanding_messages_count == 1
        ),
        10.0,
        "every ack but e4's to arrive",
    )
    wait_until(
        lambda: _last_checkpoint(node_client, stream_name, group) == '"3"',
        10.0,
        "a durable checkpoint just before the unacked event",
    )
    settings_before = node_client.get_subscription_info(group, stream_name)

    emulator.kill()
    emulator.restart()
    client = EventStoreDBClient(emulator.uri)
    try:
        info = client.get_subscription_info(group, stream_name)
        assert info.last_checkpointed_event_position == "3"
        assert (info.start_from, info.max_checkpoint_count, info.message_timeout) == (
            settings_before.start_from,
            settings_before.max_checkpoint_count,
            settings_before.message_timeout,
        )
        resumed = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
        sentinel = events(1)
        append(client, stream_name, sentinel)
        received = take(resumed, 5)
        assert [e.id for e in received] == [e.id for e in written[4:] + sentinel]
        resumed.stop()
    finally:
        client.close()


@pytest.mark.emulator_only
def test_a_restart_keeps_groups_parked_events_and_a_from_end_start(
    emulator: EmulatorProcess, node_client: EventStoreDBClient, stream_name: str
) -> None:
    append(node_client, stream_name, events(2))
    parking, late = group_name(), group_name()
    node_client.create_subscription_to_stream(parking, stream_name)
    node_client.create_subscription_to_stream(late, stream_name, from_end=True)
    pending = events(2)
    append(node_client, stream_name, pending)  # after `late` was created, before any consumer
    subscription = node_client.read_subscription_to_stream(parking, stream_name, timeout=DEADLINE)
    subscription.nack(take(subscription, 1, ack=False)[0], action="park")
    wait_until(
        lambda: node_client.get_subscription_info(parking, stream_name).parked_message_count == 1,
        10.0,
        "the event to be parked",
    )

    emulator.kill()
    emulator.restart()
    client = EventStoreDBClient(emulator.uri)
    try:
        groups = {info.group_name for info in client.list_subscriptions_to_stream(stream_name)}
        assert groups == {parking, late}
        assert client.get_subscription_info(parking, stream_name).parked_message_count == 1
        consumer = client.read_subscription_to_stream(late, stream_name, timeout=DEADLINE)
        assert [e.id for e in take(consumer, 2)] == [e.id for e in pending]
        consumer.stop()
        client.replay_parked_events(parking, stream_name)
        replaying = client.read_subscription_to_stream(parking, stream_name, timeout=DEADLINE)
        first = take(replaying, 1)[0]
        assert first.link is not None
        assert first.stream_position == 0
        replaying.stop()
    finally:
        client.close()


# -- a consumer process killed -------------------------------------------------------------


def _start_consumer(
    uri: str, group: str, stream: str, out: Path, *, buffer: int, ack: bool
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(CONSUMER), "--uri", uri, "--group", group]
    command += ["--stream", stream, "--out", str(out), "--buffer", str(buffer)]
    if not ack:
        command.append("--no-ack")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _lines(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(event_id, int(retry)) for event_id, retry in rows]


def test_a_killed_consumer_process_has_exactly_its_in_flight_events_redelivered(
    client: EventStoreDBClient, esdb_uri: str, stream_name: str, tmp_path: Path
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name, message_timeout=60)
    new = events(40)
    append(client, stream_name, new)
    written = [str(e.id) for e in new]
    doomed_out, survivor_out = tmp_path / "doomed.txt", tmp_path / "survivor.txt"
    doomed = _start_consumer(esdb_uri, group, stream_name, doomed_out, buffer=5, ack=False)
    survivor: subprocess.Popen[bytes] | None = None
    try:
        wait_until(
            lambda: len(_lines(doomed_out)) == 5, 10.0, "the first consumer to fill its 5 slots"
        )
        survivor = _start_consumer(esdb_uri, group, stream_name, survivor_out, buffer=10, ack=True)
        wait_until(lambda: len(_lines(survivor_out)) == 35, 10.0, "the second to take the other 35")
        doomed.kill()  # SIGKILL with 5 events in flight
        doomed.wait()
        wait_until(
            lambda: len(_lines(survivor_out)) >= 40, 10.0, "the orphaned events to move over"
        )
        wait_until(
            lambda: (
                client.get_subscription_info(group, stream_name).outstanding_messages_count == 0
            ),
            10.0,
            "every event to be acked",
        )
    finally:
        for process in (doomed, survivor):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    held = _lines(doomed_out)
    received = _lines(survivor_out)
    assert [event_id for event_id, _ in held] == written[:5]
    assert received[:35] == [(event_id, 0) for event_id in written[5:]]
    assert received[35:] == [(event_id, 1) for event_id, _ in held]  # exactly those, once


# -- groups changed under their consumers ---------------------------------------------------


def test_update_drops_consumers_who_then_resume_from_the_checkpoint(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(
        group, stream_name, min_checkpoint_count=1, max_checkpoint_count=1
    )
    written = events(4)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 2)
    wait_until(
        lambda: (
            client.get_subscription_info(group, stream_name).last_checkpointed_event_position == "1"
        ),
        10.0,
        "a checkpoint after the acked events",
    )
    take(subscription, 2, ack=False)
    client.update_subscription_to_stream(group, stream_name, message_timeout=5.0)
    with pytest.raises(GrpcError, match="was dropped"):
        next(subscription)
    again = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    assert [(e.id, e.retry_count) for e in take(again, 2)] == [(e.id, 0) for e in written[2:]]
    again.stop()


def test_delete_drops_consumers_and_removes_the_groups_streams(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(
        group, stream_name, min_checkpoint_count=1, max_checkpoint_count=1
    )
    written = events(2)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 1)
    wait_until(lambda: _last_checkpoint(client, stream_name, group) == '"0"', 10.0, "a checkpoint")
    take(subscription, 1, ack=False)
    client.delete_subscription(group, stream_name)
    with pytest.raises(GrpcError, match="was dropped"):
        next(subscription)
    with pytest.raises(NotFound):
        client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    assert _last_checkpoint(client, stream_name, group) is None  # checkpoint stream deleted
    assert [e.id for e in client.get_stream(stream_name)] == [e.id for e in written]


def test_a_group_whose_stream_is_tombstoned_drops_its_consumers(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    append(client, stream_name, events(1))
    client.create_subscription_to_stream(group, stream_name)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 1)
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(GrpcError, match="was dropped"):
        next(subscription)
    late = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    with pytest.raises(GrpcError, match="was dropped"):
        next(late)


@pytest.mark.emulator_only
def test_an_update_before_any_checkpoint_does_not_redeliver_acked_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    """Closing a group writes a final checkpoint. Without it the rebuilt group
    resumed from no checkpoint and delivered (and a worker parked) everything again.
    At-least-once allows that redelivery; the emulator avoids it."""
    group = group_name()
    client.create_subscription_to_stream(
        group, stream_name, min_checkpoint_count=1000, max_checkpoint_count=1000
    )
    written = events(5)
    append(client, stream_name, written)
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 5)
    wait_until(lambda: settled(client, group, stream_name), 10.0, "every ack to arrive")
    assert _last_checkpoint(client, stream_name, group) is None  # none due yet
    client.update_subscription_to_stream(group, stream_name, message_timeout=5.0)
    assert _last_checkpoint(client, stream_name, group) == '"4"'
    later = events(1)
    append(client, stream_name, later)
    again = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    assert [e.id for e in take(again, 1)] == [later[0].id]
    again.stop()


def _parked_links(client: EventStoreDBClient, stream: str, group: str) -> list[bytes]:
    try:
        return [link.data for link in client.get_stream(parked_stream(stream, group))]
    except NotFound:
        return []


def _park_three_and_replay(
    client: EventStoreDBClient, stream: str, group: str
) -> tuple[list[NewEvent], list[bytes]]:
    """Park three events, replay them and take them without acking: the replay has
    truncated the parked stream, so they are only in flight. (poison, their links)"""
    poison = events(3)
    append(client, stream, poison)
    subscription = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    for event in take(subscription, 3, ack=False):
        subscription.nack(event, action="park")
    links = [f"{n}@{stream}".encode() for n in range(3)]
    wait_until(lambda: _parked_links(client, stream, group) == links, 10.0, "three parked")
    client.replay_parked_events(group, stream)
    assert all(e.link is not None for e in take(subscription, 3, ack=False))
    assert _parked_links(client, stream, group) == []
    return poison, links


@pytest.mark.emulator_only
def test_replayed_events_in_flight_when_the_group_is_updated_go_to_the_new_group(
    client: EventStoreDBClient, stream_name: str
) -> None:
    """An update hands the unfinished replay to the rebuilt group; it was lost before."""
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    poison, _ = _park_three_and_replay(client, stream_name, group)
    client.update_subscription_to_stream(group, stream_name, message_timeout=5.0)
    again = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    replayed = take(again, 3)
    assert [e.id for e in replayed] == [e.id for e in poison]
    assert all(e.link is not None for e in replayed)
    wait_until(lambda: settled(client, group, stream_name), 10.0, "the replayed events acked")
    assert _parked_links(client, stream_name, group) == []
    again.stop()


@pytest.mark.emulator_only
def test_replayed_events_in_flight_when_the_server_stops_are_parked_again(
    emulator: EmulatorProcess, node_client: EventStoreDBClient, stream_name: str
) -> None:
    """A clean stop parks the unfinished replay again, each event once; it was lost."""
    group = group_name()
    node_client.create_subscription_to_stream(group, stream_name)
    _, links = _park_three_and_replay(node_client, stream_name, group)
    emulator.stop()
    emulator.start()
    client = EventStoreDBClient(emulator.uri)
    try:
        assert sorted(_parked_links(client, stream_name, group)) == links
        assert client.get_subscription_info(group, stream_name).parked_message_count == 3
    finally:
        client.close()

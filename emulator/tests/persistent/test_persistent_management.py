"""Persistent-subscription management through the real esdbclient: create, info,
list, update and delete, with the server's error codes and texts, and the
`start_from` formats the client parses back (`docs/esdb-protocol.md` 1.7)."""

from __future__ import annotations

from typing import Any

import pytest
from esdbclient import EventStoreDBClient
from esdbclient.exceptions import AlreadyExists, InternalError, NotFound
from persistent_support import DEADLINE, append, events, group_name, take


def test_a_new_group_on_all_reports_the_settings_it_was_created_with(
    client: EventStoreDBClient,
) -> None:
    group = group_name()
    client.create_subscription_to_all(group)
    info = client.get_subscription_info(group)
    assert (info.event_source, info.group_name, info.start_from) == ("$all", group, "C:0/P:0")
    assert (info.consumer_strategy, info.message_timeout, info.max_retry_count) == (
        "DispatchToSingle",
        30.0,
        10,
    )
    assert (info.min_checkpoint_count, info.max_checkpoint_count, info.checkpoint_after) == (
        10,
        1000,
        2.0,
    )
    assert (info.live_buffer_size, info.read_batch_size, info.history_buffer_size) == (
        500,
        200,
        500,
    )
    assert (info.max_subscriber_count, info.resolve_links, info.extra_statistics) == (
        5,
        False,
        False,
    )


def test_start_from_renders_in_the_format_the_client_parses_back(
    client: EventStoreDBClient, stream_name: str
) -> None:
    position = append(client, stream_name, events(3))
    starts: dict[str, dict[str, Any]] = {
        "C:-1/P:-1": dict(from_end=True),
        f"C:{position}/P:{position}": dict(commit_position=position),
    }
    for expected, options in starts.items():
        group = group_name()
        client.create_subscription_to_all(group, **options)
        assert client.get_subscription_info(group).start_from == expected
    stream_starts: dict[str, dict[str, Any]] = {
        "0": {},
        "-1": dict(from_end=True),
        "2": dict(stream_position=2),
    }
    for expected, options in stream_starts.items():
        group = group_name()
        client.create_subscription_to_stream(group, stream_name, **options)
        assert client.get_subscription_info(group, stream_name).start_from == expected


def test_update_replaces_every_setting_and_keeps_the_start(client: EventStoreDBClient) -> None:
    group = group_name()
    client.create_subscription_to_all(group, from_end=True)
    client.update_subscription_to_all(
        group,
        resolve_links=True,
        consumer_strategy="Pinned",
        message_timeout=15.0,
        max_retry_count=5,
        min_checkpoint_count=7,
        max_checkpoint_count=12,
        checkpoint_after=1.0,
        max_subscriber_count=10,
        live_buffer_size=300,
        read_batch_size=250,
        history_buffer_size=400,
        extra_statistics=True,
    )
    info = client.get_subscription_info(group)
    assert info.start_from == "C:-1/P:-1"
    assert (info.resolve_links, info.consumer_strategy, info.message_timeout) == (
        True,
        "Pinned",
        15.0,
    )
    assert (info.max_retry_count, info.min_checkpoint_count, info.max_checkpoint_count) == (
        5,
        7,
        12,
    )
    assert (info.checkpoint_after, info.max_subscriber_count, info.extra_statistics) == (
        1.0,
        10,
        True,
    )
    assert (info.live_buffer_size, info.read_batch_size, info.history_buffer_size) == (
        300,
        250,
        400,
    )


def test_update_of_a_stream_group_can_move_its_start(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    client.update_subscription_to_stream(group, stream_name, stream_position=5)
    assert client.get_subscription_info(group, stream_name).start_from == "5"
    client.update_subscription_to_stream(group, stream_name, from_end=True)
    assert client.get_subscription_info(group, stream_name).start_from == "-1"


def test_creating_an_existing_group_is_already_exists(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_all(group)
    with pytest.raises(AlreadyExists):
        client.create_subscription_to_all(group)
    client.create_subscription_to_stream(group, stream_name)  # another stream: another group
    with pytest.raises(AlreadyExists):
        client.create_subscription_to_stream(group, stream_name)


def test_unknown_groups_are_not_found_for_info_update_delete_read_and_replay(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    with pytest.raises(NotFound):
        client.get_subscription_info(group)
    with pytest.raises(NotFound):
        client.update_subscription_to_stream(group, stream_name)
    with pytest.raises(NotFound):
        client.delete_subscription(group, stream_name)
    with pytest.raises(NotFound):
        client.read_subscription_to_all(group, timeout=DEADLINE)
    with pytest.raises(NotFound):
        client.replay_parked_events(group)


def test_read_batch_not_below_history_buffer_is_an_internal_error_with_the_servers_text(
    client: EventStoreDBClient,
) -> None:
    group = group_name()
    with pytest.raises(InternalError) as raised:
        client.create_subscription_to_all(group, history_buffer_size=100)
    assert str(raised.value) == (
        f"Subscription group {group} on stream $all failed: 'Specified argument was out of "
        "the range of valid values. (Parameter 'ReadBatchSize may not be greater than or "
        "equal to BufferSize')'"
    )
    client.create_subscription_to_all(group)
    with pytest.raises(InternalError):
        client.update_subscription_to_all(group, history_buffer_size=100)
    assert client.get_subscription_info(group).history_buffer_size == 500  # unchanged


def test_unknown_consumer_strategy_is_an_internal_error(client: EventStoreDBClient) -> None:
    group = group_name()
    with pytest.raises(InternalError) as raised:
        client.create_subscription_to_all(group, consumer_strategy="InvalidStrategy")  # type: ignore[call-overload]
    assert "'Consumer strategy InvalidStrategy does not exist.'" in str(raised.value)
    with pytest.raises(NotFound):
        client.get_subscription_info(group)  # nothing half-created


def test_a_start_beyond_the_last_position_is_refused(client: EventStoreDBClient) -> None:
    beyond = client.get_commit_position() + 1_000_000
    with pytest.raises(InternalError) as raised:
        client.create_subscription_to_all(group_name(), commit_position=beyond)
    assert "commit position must be less than or equal to the last commit position" in str(
        raised.value
    )


def test_list_shows_groups_of_all_streams_and_of_one_stream(
    client: EventStoreDBClient, stream_name: str
) -> None:
    assert client.list_subscriptions_to_stream(stream_name) == []
    before = len(client.list_subscriptions())
    all_group, stream_group = group_name(), group_name()
    client.create_subscription_to_all(all_group, filter_exclude=[])
    client.create_subscription_to_stream(stream_group, stream_name)
    listed = client.list_subscriptions()
    assert len(listed) == before + 2
    assert {all_group, stream_group} <= {info.group_name for info in listed}
    assert [info.group_name for info in client.list_subscriptions_to_stream(stream_name)] == [
        stream_group
    ]


def test_delete_removes_the_group_and_a_second_delete_is_not_found(
    client: EventStoreDBClient, stream_name: str
) -> None:
    group = group_name()
    client.create_subscription_to_stream(group, stream_name)
    client.delete_subscription(group, stream_name)
    assert client.list_subscriptions_to_stream(stream_name) == []
    with pytest.raises(NotFound):
        client.delete_subscription(group, stream_name)
    with pytest.raises(NotFound):
        client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)


def test_a_recreated_group_starts_afresh(client: EventStoreDBClient, stream_name: str) -> None:
    group = group_name()
    append(client, stream_name, events(2))
    client.create_subscription_to_stream(
        group, stream_name, min_checkpoint_count=1, max_checkpoint_count=1
    )
    subscription = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    take(subscription, 2)
    subscription.stop()
    client.delete_subscription(group, stream_name)
    client.create_subscription_to_stream(group, stream_name)
    again = client.read_subscription_to_stream(group, stream_name, timeout=DEADLINE)
    assert [e.stream_position for e in take(again, 2)] == [0, 1]
    again.stop()

"""Streams behaviour through the real esdbclient, sync and asyncio.

One test per semantic row of `docs/esdb-protocol.md` sections 1.3-1.5 and the
`$all` parts of 1.6: expected-revision rules and their exact messages on every
append path (sync single event = `Append`; sync list and asyncio = `BatchAppend`),
idempotency, the delete/tombstone/metadata matrix, reads and `$all` filters.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdbclient.events import RecordedEvent
from esdbclient.exceptions import (
    FailedPrecondition,
    GrpcError,
    MaximumAppendSizeExceededError,
    NotFound,
    StreamIsDeleted,
    WrongCurrentVersion,
)

T = TypeVar("T")
LONG_MAX = 9_223_372_036_854_775_807
Events = NewEvent | Sequence[NewEvent]
Appender = Callable[[str, "int | StreamState", Events], int]


class AsyncClient:
    """An asyncio esdbclient on its own event loop, driven from synchronous tests."""

    def __init__(self, uri: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncEventStoreDBClient(uri)
        self.run(self.client.connect())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def aclient(esdb_uri: str) -> Iterator[AsyncClient]:
    client = AsyncClient(esdb_uri)
    try:
        yield client
    finally:
        client.close()


def make_appender(path: str, client: EventStoreDBClient, aclient: AsyncClient) -> Appender:
    """Appends by `path`; returns the commit position. The sync client uses `Append`
    for a single event and `BatchAppend` for a list; the async one always `BatchAppend`."""

    def appender(stream: str, current_version: int | StreamState, events: Events) -> int:
        if path == "async BatchAppend":
            return aclient.run(
                aclient.client.append_to_stream(
                    stream, current_version=current_version, events=events
                )
            )
        if path == "BatchAppend" and isinstance(events, NewEvent):
            events = [events]
        assert path != "Append" or isinstance(events, NewEvent)
        return client.append_to_stream(stream, current_version=current_version, events=events)

    appender.path = path  # type: ignore[attr-defined]
    return appender


@pytest.fixture(params=["Append", "BatchAppend", "async BatchAppend"])
def append(
    request: pytest.FixtureRequest, client: EventStoreDBClient, aclient: AsyncClient
) -> Appender:
    """Appends one event or a list by each path in turn."""
    return make_appender(request.param, client, aclient)


@pytest.fixture(params=["BatchAppend", "async BatchAppend"])
def append_batch(
    request: pytest.FixtureRequest, client: EventStoreDBClient, aclient: AsyncClient
) -> Appender:
    """Appends a list of events by each path that carries several."""
    return make_appender(request.param, client, aclient)


def event(event_type: str = "OrderCreated", **kwargs: Any) -> NewEvent:
    return NewEvent(type=event_type, data=json.dumps(kwargs).encode())


def ids(events: Sequence[RecordedEvent]) -> list[uuid.UUID]:
    return [e.id for e in events]


# -- expected revision (1.3) ------------------------------------------------------------


def test_no_stream_on_new_stream_returns_the_events_commit_position(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    position = append(stream_name, StreamState.NO_STREAM, event())

    [recorded] = client.get_stream(stream_name)
    assert recorded.commit_position == position
    assert recorded.stream_position == 0


def test_no_stream_on_existing_stream_names_the_last_revision(
    append: Appender, stream_name: str
) -> None:
    append(stream_name, StreamState.NO_STREAM, event())

    with pytest.raises(WrongCurrentVersion) as caught:
        append(stream_name, StreamState.NO_STREAM, event())

    assert str(caught.value) == "Stream position of last event is 0 not StreamState.NO_STREAM"


def test_exact_revision_on_missing_stream_says_it_does_not_exist(
    append: Appender, stream_name: str
) -> None:
    with pytest.raises(WrongCurrentVersion) as caught:
        append(stream_name, 5, event())

    assert str(caught.value) == f"Stream {stream_name!r} does not exist"


def test_exact_revision_mismatch_names_both_revisions(append: Appender, stream_name: str) -> None:
    append(stream_name, StreamState.NO_STREAM, event())
    append(stream_name, 0, event())

    with pytest.raises(WrongCurrentVersion) as caught:
        append(stream_name, 5, event())

    assert str(caught.value) == "Stream position of last event is 1 not 5"


def test_exact_revision_match_appends_after_it(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    first = append(stream_name, StreamState.NO_STREAM, event())
    second = append(stream_name, 0, event())

    assert second > first
    assert [e.stream_position for e in client.get_stream(stream_name)] == [0, 1]


def test_stream_exists_fails_on_missing_stream_and_passes_on_existing(
    append: Appender, stream_name: str
) -> None:
    with pytest.raises(WrongCurrentVersion) as caught:
        append(stream_name, StreamState.EXISTS, event())
    append(stream_name, StreamState.NO_STREAM, event())

    assert str(caught.value) == f"Stream {stream_name!r} does not exist"
    assert append(stream_name, StreamState.EXISTS, event()) > 0


def test_any_passes_on_missing_and_existing_streams(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    append(stream_name, StreamState.ANY, event())
    append(stream_name, StreamState.ANY, event())

    assert client.get_current_version(stream_name) == 1


def test_batch_positions_rise_and_the_last_is_returned(
    append_batch: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    position = append_batch(stream_name, StreamState.NO_STREAM, [event(), event(), event()])

    recorded = client.get_stream(stream_name)
    positions = [e.commit_position for e in recorded]
    assert positions == sorted(set(positions))  # type: ignore[type-var]
    assert positions[-1] == position


# -- idempotency (1.3) ---------------------------------------------------------------------


def test_same_ids_with_no_stream_return_the_original_position(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    once = event()
    first = append(stream_name, StreamState.NO_STREAM, once)

    again = append(stream_name, StreamState.NO_STREAM, once)

    assert again == first
    assert len(client.get_stream(stream_name)) == 1


def test_same_ids_with_the_same_exact_revision_return_the_original_position(
    append_batch: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    append_batch(stream_name, StreamState.NO_STREAM, event())
    batch = [event(n=1), event(n=2)]
    first = append_batch(stream_name, 0, batch)

    again = append_batch(stream_name, 0, batch)

    assert again == first
    assert len(client.get_stream(stream_name)) == 3


def test_partly_matching_batch_is_corrupted_idempotency(
    append_batch: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    e1, e2, e3 = event(n=1), event(n=2), event(n=3)
    append_batch(stream_name, StreamState.NO_STREAM, [e1, e2])

    with pytest.raises(WrongCurrentVersion):
        append_batch(stream_name, StreamState.NO_STREAM, [e1, e2, e3])

    assert ids(client.get_stream(stream_name)) == [e1.id, e2.id]


# -- deleted streams on the append paths (1.3, 1.5) -----------------------------------------


def test_append_to_tombstoned_stream_is_failed_precondition_on_append_else_deleted(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    expected = FailedPrecondition if append.path == "Append" else StreamIsDeleted  # type: ignore[attr-defined]

    with pytest.raises(expected):
        append(stream_name, StreamState.ANY, event())


def test_appends_after_soft_delete_continue_the_numbering(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    append(stream_name, StreamState.NO_STREAM, event())
    append(stream_name, 0, event())
    client.delete_stream(stream_name, current_version=1)

    append(stream_name, StreamState.NO_STREAM, event(n="after"))

    [recorded] = client.get_stream(stream_name)
    assert recorded.stream_position == 2
    assert json.loads(recorded.data) == {"n": "after"}


def test_old_last_revision_is_accepted_after_soft_delete(
    append: Appender, client: EventStoreDBClient, stream_name: str
) -> None:
    append(stream_name, StreamState.NO_STREAM, event())
    client.delete_stream(stream_name, current_version=0)

    append(stream_name, 0, event())

    assert [e.stream_position for e in client.get_stream(stream_name)] == [1]


def test_batch_over_the_maximum_append_size_is_refused_and_not_written(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    big = [NewEvent(type="Big", data=b"x" * 600_000) for _ in range(2)]

    with pytest.raises(MaximumAppendSizeExceededError):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=big)
    with pytest.raises(MaximumAppendSizeExceededError):
        aclient.run(
            aclient.client.append_to_stream(
                stream_name, current_version=StreamState.ANY, events=big
            )
        )
    with pytest.raises(GrpcError):
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=NewEvent("Big", b"x" * 2_000_000)
        )

    assert client.get_current_version(stream_name) is StreamState.NO_STREAM


# -- stream reads (1.4) ----------------------------------------------------------------------


@pytest.fixture
def five(client: EventStoreDBClient, stream_name: str) -> list[NewEvent]:
    """Five events written to `stream_name`."""
    events = [event(n=n) for n in range(5)]
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    return events


def test_stream_reads_forwards_backwards_and_from_a_revision_inclusively(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    every = [e.id for e in five]

    assert ids(client.get_stream(stream_name)) == every
    assert ids(client.get_stream(stream_name, backwards=True)) == every[::-1]
    assert ids(client.get_stream(stream_name, stream_position=2)) == every[2:]
    assert ids(client.get_stream(stream_name, stream_position=2, backwards=True)) == [
        every[2],
        every[1],
        every[0],
    ]
    assert ids(client.get_stream(stream_name, stream_position=1, limit=2)) == every[1:3]
    assert client.get_stream(stream_name, stream_position=5) == ()


def test_async_stream_reads_match_sync_ones(
    aclient: AsyncClient, stream_name: str, five: list[NewEvent]
) -> None:
    forwards = aclient.run(aclient.client.get_stream(stream_name))
    backwards = aclient.run(aclient.client.get_stream(stream_name, backwards=True, limit=2))

    assert ids(forwards) == [e.id for e in five]
    assert ids(backwards) == [five[4].id, five[3].id]


def test_recorded_events_carry_what_was_written(
    client: EventStoreDBClient, stream_name: str
) -> None:
    before = datetime.datetime.now(tz=datetime.UTC)
    new = NewEvent(type="Shipped", data=b'{"a":1}', metadata=b'{"m":2}')
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=new)

    [recorded] = client.get_stream(stream_name)

    assert (recorded.id, recorded.type, recorded.data, recorded.metadata) == (
        new.id,
        "Shipped",
        b'{"a":1}',
        b'{"m":2}',
    )
    assert recorded.content_type == "application/json"
    assert recorded.stream_name == stream_name
    assert recorded.recorded_at is not None
    assert before - datetime.timedelta(seconds=5) <= recorded.recorded_at
    assert recorded.recorded_at <= datetime.datetime.now(tz=datetime.UTC)


def test_missing_stream_raises_not_found_lazily(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    response = client.read_stream(stream_name)

    with pytest.raises(NotFound):
        next(response)
    with pytest.raises(NotFound):
        aclient.run(aclient.client.get_stream(stream_name))
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM
    assert aclient.run(aclient.client.get_current_version(stream_name)) is StreamState.NO_STREAM


# -- delete, tombstone, metadata (1.5) ---------------------------------------------------------


def test_soft_delete_with_exact_revision_succeeds_and_may_be_repeated(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    client.delete_stream(stream_name, current_version=4)
    client.delete_stream(stream_name, current_version=4)

    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM


def test_soft_delete_with_another_revision_is_wrong_current_version(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    with pytest.raises(WrongCurrentVersion):
        client.delete_stream(stream_name, current_version=2)

    assert len(client.get_stream(stream_name)) == 5


@pytest.mark.parametrize("expected", [StreamState.ANY, StreamState.NO_STREAM])
def test_soft_delete_of_a_stream_that_never_existed_is_not_found(
    client: EventStoreDBClient, stream_name: str, expected: StreamState
) -> None:
    with pytest.raises(NotFound):
        client.delete_stream(stream_name, current_version=expected)


def test_soft_delete_with_any_may_be_repeated(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    client.delete_stream(stream_name, current_version=StreamState.ANY)
    client.delete_stream(stream_name, current_version=StreamState.ANY)

    with pytest.raises(NotFound):
        client.get_stream(stream_name)


def test_stream_exists_on_a_soft_deleted_stream_is_deleted(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    client.delete_stream(stream_name, current_version=StreamState.ANY)

    with pytest.raises(StreamIsDeleted):
        client.delete_stream(stream_name, current_version=StreamState.EXISTS)


def test_soft_delete_writes_truncate_before_long_max_then_rebases_on_append(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    client.delete_stream(stream_name, current_version=4)
    metadata, _ = client.get_stream_metadata(stream_name)

    assert metadata["$tb"] == LONG_MAX
    new = event(n="new")
    client.append_to_stream(stream_name, current_version=StreamState.ANY, events=new)
    assert ids(client.get_stream(stream_name)) == [new.id]


def test_tombstone_with_wrong_revision_then_right_one_then_everything_is_deleted(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=[event(), event()]
    )
    with pytest.raises(WrongCurrentVersion):
        client.tombstone_stream(stream_name, current_version=0)

    client.tombstone_stream(stream_name, current_version=1)

    for expected in (1, 2, StreamState.ANY, StreamState.EXISTS):
        with pytest.raises(StreamIsDeleted):
            client.tombstone_stream(stream_name, current_version=expected)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream_name)
    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream_name)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=[event()])
    with pytest.raises(StreamIsDeleted):
        aclient.run(aclient.client.get_stream(stream_name))


def test_tombstone_with_any_on_a_stream_that_never_existed_deletes_it(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=[event()])


def test_tombstone_expecting_stream_exists_on_a_missing_stream_is_not_found(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    with pytest.raises(NotFound):
        client.tombstone_stream(stream_name, current_version=StreamState.EXISTS)
    with pytest.raises(NotFound):
        aclient.run(
            aclient.client.tombstone_stream(stream_name, current_version=StreamState.EXISTS)
        )


def test_metadata_of_a_tombstoned_stream_can_be_written_but_not_read(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    client.set_stream_metadata(stream_name, metadata={"k": 1})

    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream_name)


def test_stream_metadata_round_trips_and_missing_metadata_is_empty(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    assert client.get_stream_metadata(stream_name) == ({}, StreamState.NO_STREAM)

    client.set_stream_metadata(stream_name, metadata={"$acl": {"$r": "$all"}, "k": 1})
    aclient.run(
        aclient.client.set_stream_metadata(stream_name, metadata={"k": 2}, current_version=0)
    )

    assert client.get_stream_metadata(stream_name) == ({"k": 2}, 1)


def test_max_count_applies_when_reading(
    client: EventStoreDBClient, stream_name: str, five: list[NewEvent]
) -> None:
    client.set_stream_metadata(stream_name, metadata={"$maxCount": 2})

    assert ids(client.get_stream(stream_name)) == [five[3].id, five[4].id]


def test_links_are_resolved_on_request(client: EventStoreDBClient, stream_name: str) -> None:
    target = event(n="target")
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[target])
    links = f"{stream_name}-links"
    link = NewEvent(type="$>", data=f"0@{stream_name}".encode())
    client.append_to_stream(links, current_version=StreamState.NO_STREAM, events=[link])

    [unresolved] = client.get_stream(links)
    [resolved] = client.get_stream(links, resolve_links=True)

    assert unresolved.type == "$>"
    assert resolved.id == target.id
    assert resolved.link is not None
    assert resolved.link.id == link.id
    assert resolved.link.stream_name == links


# -- $all (1.4, 1.6) -----------------------------------------------------------------------------


@pytest.fixture
def mixed(client: EventStoreDBClient, stream_name: str) -> dict[str, list[NewEvent]]:
    """Two streams with several event types, written after everything else so far."""
    written: dict[str, list[NewEvent]] = {}
    for suffix, types in (("a", ["Alpha", "Beta"]), ("b", ["Gamma", "Alpha"])):
        events = [event(t) for t in types]
        client.append_to_stream(
            f"{stream_name}-{suffix}", current_version=StreamState.NO_STREAM, events=events
        )
        written[f"{stream_name}-{suffix}"] = events
    return written


def tail_since(client: EventStoreDBClient, position: int, **kwargs: Any) -> list[RecordedEvent]:
    return list(client.read_all(commit_position=position, **kwargs))


def test_read_all_default_filter_hides_system_events_and_keeps_order(
    client: EventStoreDBClient, mixed: dict[str, list[NewEvent]]
) -> None:
    written = [e.id for events in mixed.values() for e in events]

    everything = list(client.read_all())

    assert ids(everything[-4:]) == written
    assert all(not e.type.startswith("$") for e in everything)
    assert any(e.type.startswith("$") for e in client.read_all(filter_exclude=[]))


def test_read_all_filters_by_event_type_and_stream_name(
    client: EventStoreDBClient, mixed: dict[str, list[NewEvent]], stream_name: str
) -> None:
    [(stream_a, events_a), (stream_b, events_b)] = mixed.items()
    start = client.get_stream(stream_a)[0].commit_position
    assert start is not None

    alphas = tail_since(client, start, filter_include=["Alpha"])
    not_alpha = tail_since(client, start, filter_exclude=["Alpha"])
    by_stream = tail_since(client, start, filter_include=[stream_b], filter_by_stream_name=True)
    include_wins = tail_since(client, start, filter_include=["Beta"], filter_exclude=["Beta"])

    assert ids(alphas) == [events_a[0].id, events_b[1].id]
    assert ids(not_alpha) == [events_a[1].id, events_b[0].id]
    assert ids(by_stream) == [e.id for e in events_b]
    assert ids(include_wins) == [events_a[1].id]


def test_read_all_forwards_is_inclusive_and_backwards_exclusive(
    client: EventStoreDBClient, mixed: dict[str, list[NewEvent]]
) -> None:
    recorded = [e for name in mixed for e in client.get_stream(name)]
    middle = recorded[1].commit_position
    assert middle is not None

    forwards = list(client.read_all(commit_position=middle, limit=2))
    backwards = list(client.read_all(commit_position=middle, backwards=True, limit=1))

    assert ids(forwards) == [recorded[1].id, recorded[2].id]
    assert ids(backwards) == [recorded[0].id]


def test_commit_position_is_the_last_append_and_zero_when_nothing_matches(
    client: EventStoreDBClient, aclient: AsyncClient, stream_name: str
) -> None:
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=[event()]
    )

    assert client.get_commit_position() == position
    assert aclient.run(aclient.client.get_commit_position()) == position
    assert client.get_commit_position(filter_exclude=[".*"]) == 0


def test_async_read_all_applies_the_filter(
    aclient: AsyncClient, mixed: dict[str, list[NewEvent]]
) -> None:
    [_, (_, events_b)] = mixed.items()

    async def gammas() -> list[RecordedEvent]:
        response = await aclient.client.read_all(backwards=True, filter_include=["Gamma"], limit=1)
        return [e async for e in response]

    assert ids(aclient.run(gammas())) == [events_b[0].id]

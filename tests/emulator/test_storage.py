"""EventLog, driven directly: EventStoreDB's append, read, delete and tombstone
rules, idempotency, metadata, links, `$all` bounds, group commit and durability
across a reopen. Each test runs its own log on a file database in tmp_path."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from esdb_emulator.records import (
    DELETED_STREAM_REVISION,
    AppendResult,
    DeleteResult,
    ExpectedRevision,
    ProposedEvent,
    RecordedEvent,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedVersion,
)
from esdb_emulator.storage import EventLog

T = TypeVar("T")


def new_event(event_type: str = "Thing", data: bytes = b'{"n":1}', **kw: Any) -> ProposedEvent:
    return ProposedEvent(
        event_id=kw.get("event_id", str(uuid.uuid4())),
        type=event_type,
        content_type="application/json",
        metadata=kw.get("metadata", b"{}"),
        data=data,
    )


def link_to(revision: int, stream: str) -> ProposedEvent:
    return new_event("$>", f"{revision}@{stream}".encode())


def metadata_event(metadata: dict[str, object]) -> ProposedEvent:
    return new_event("$metadata", json.dumps(metadata).encode())


class Harness:
    """An open EventLog and the event loop it is bound to, driven synchronously."""

    def __init__(self, path: Path | None, **options: Any) -> None:
        self.path = path
        self.options = options
        self.runner = asyncio.Runner()
        self.log = EventLog(path, **options)
        self.run(self.log.start())

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.runner.run(wrapped())

    def append(
        self, stream: str, expected: ExpectedRevision, events: Sequence[ProposedEvent]
    ) -> AppendResult:
        return self.run(self.log.append(stream, expected, events))

    def delete(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        return self.run(self.log.delete(stream, expected))

    def tombstone(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        return self.run(self.log.tombstone(stream, expected))

    def events(self, stream: str, *, backwards: bool = False, revision: int | None = None,
               limit: int = 1000, resolve_links: bool = False) -> list[RecordedEvent]:  # fmt: skip
        return [r.event for r in self.log.read_stream(
            stream, revision=revision, backwards=backwards, limit=limit,
            resolve_links=resolve_links)]  # fmt: skip

    def revisions(self, stream: str, **kw: Any) -> list[int]:
        return [e.revision for e in self.events(stream, **kw)]

    def all_records(self) -> list[RecordedEvent]:
        return [r.event for r in self.log.read_all(
            position=None, backwards=False, limit=1_000_000, resolve_links=False)]  # fmt: skip

    def reopen(self) -> None:
        self.close()
        self.runner = asyncio.Runner()
        self.log = EventLog(self.path, **self.options)
        self.run(self.log.start())

    def close(self) -> None:
        self.run(self.log.close())
        self.runner.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "events.db")
    yield harness
    harness.close()


def stream_at(h: Harness, state: str) -> str:
    """A fresh stream in `state`: new, two events (last revision 1), soft-deleted
    after two events, or tombstoned after two events."""
    stream = f"s-{uuid.uuid4().hex[:8]}"
    if state == "new":
        return stream
    h.append(stream, "no_stream", [new_event(), new_event()])
    if state == "soft_deleted":
        h.delete(stream, 1)
    elif state == "tombstoned":
        h.tombstone(stream, 1)
    return stream


# -- expected revision on append -----------------------------------------------------

APPEND_CASES = [
    # state, expected, outcome: the new last revision, or the error and its current revision
    ("new", "any", 0),
    ("new", "no_stream", 0),
    ("new", "stream_exists", (WrongExpectedVersion, None)),
    ("new", 0, (WrongExpectedVersion, None)),
    ("two", "any", 2),
    ("two", "no_stream", (WrongExpectedVersion, 1)),
    ("two", "stream_exists", 2),
    ("two", 1, 2),
    ("two", 0, (WrongExpectedVersion, 1)),
    ("two", 5, (WrongExpectedVersion, 1)),
    ("soft_deleted", "any", 2),
    ("soft_deleted", "no_stream", 2),
    ("soft_deleted", 1, 2),
    ("soft_deleted", "stream_exists", (StreamDeleted, None)),
    ("soft_deleted", 0, (WrongExpectedVersion, 1)),
    ("tombstoned", "any", (StreamDeleted, None)),
    ("tombstoned", "no_stream", (StreamDeleted, None)),
    ("tombstoned", "stream_exists", (StreamDeleted, None)),
    ("tombstoned", 1, (StreamDeleted, None)),
]


@pytest.mark.parametrize(("state", "expected", "outcome"), APPEND_CASES)
def test_append_expected_revision(
    h: Harness, state: str, expected: ExpectedRevision, outcome: object
) -> None:
    stream = stream_at(h, state)
    before = h.log.last_position
    if isinstance(outcome, int):
        result = h.append(stream, expected, [new_event()])
        assert result.current_revision == outcome
        assert result.position > before
        assert h.revisions(stream)[-1] == outcome
        if state == "soft_deleted":  # only the events after the delete are readable
            assert h.revisions(stream) == [outcome]
        assert h.log.stream_revision(stream) == outcome
        return
    error, current = outcome  # type: ignore[misc]
    with pytest.raises(error) as caught:
        h.append(stream, expected, [new_event()])
    if error is WrongExpectedVersion:
        assert caught.value.current_revision == current
    assert h.log.last_position == before


def test_wrong_expected_version_names_stream_and_revisions(h: Harness) -> None:
    h.append("orders-1", "no_stream", [new_event()])
    with pytest.raises(WrongExpectedVersion) as caught:
        h.append("orders-1", 3, [new_event()])
    assert (caught.value.stream, caught.value.expected, caught.value.current_revision) == (
        "orders-1", 3, 0)  # fmt: skip


# -- idempotency -----------------------------------------------------------------------


@pytest.mark.parametrize("expected", ["no_stream", 0])
def test_retry_with_same_ids_returns_original_result(
    h: Harness, expected: ExpectedRevision
) -> None:
    stream = stream_at(h, "new")
    if expected == 0:
        h.append(stream, "no_stream", [new_event()])
    batch = [new_event(), new_event()]
    original = h.append(stream, expected, batch)
    h.append(stream, "any", [new_event()])  # someone else appends meanwhile
    before = h.log.last_position
    retried = h.append(stream, expected, batch)
    assert retried == original
    assert h.log.last_position == before
    assert [e.event_id for e in h.events(stream)].count(batch[0].event_id) == 1


@pytest.mark.parametrize(
    "retry",
    [
        pytest.param(lambda a, b: [a, b, new_event()], id="extra-event"),
        pytest.param(lambda a, b: [a, new_event()], id="second-differs"),
        pytest.param(lambda a, b: [new_event(), b], id="first-differs"),
    ],
)
def test_corrupted_idempotency_is_wrong_expected_version(
    h: Harness, retry: Callable[[ProposedEvent, ProposedEvent], list[ProposedEvent]]
) -> None:
    a, b = new_event(), new_event()
    h.append("s", "no_stream", [a, b])
    before = h.log.last_position
    with pytest.raises(WrongExpectedVersion) as caught:
        h.append("s", "no_stream", retry(a, b))
    assert caught.value.current_revision == 1
    assert h.log.last_position == before
    assert h.revisions("s") == [0, 1]


def test_exact_revision_retry_is_recognised_after_reopen(h: Harness) -> None:
    batch = [new_event(), new_event()]
    original = h.append("s", "no_stream", batch)
    h.reopen()
    assert h.append("s", "no_stream", batch) == original
    assert h.revisions("s") == [0, 1]


@pytest.mark.parametrize("expected", ["any", "stream_exists"])
def test_any_retry_is_deduplicated_by_recent_ids(h: Harness, expected: ExpectedRevision) -> None:
    h.append("s", "no_stream", [new_event()])
    batch = [new_event(), new_event()]
    original = h.append("s", expected, batch)
    assert h.append("s", expected, batch) == original
    with pytest.raises(WrongExpectedVersion):
        h.append("s", expected, [batch[0], new_event()])
    assert h.revisions("s") == [0, 1, 2]


def test_any_dedup_is_best_effort_and_lost_on_reopen(h: Harness) -> None:
    event = new_event()
    h.append("s", "any", [event])
    h.reopen()
    h.append("s", "any", [event])  # as on EventStoreDB: the id cache is in memory only
    assert [e.event_id for e in h.events("s")] == [event.event_id] * 2


def test_same_event_id_may_be_used_in_two_streams(h: Harness) -> None:
    event = new_event()
    h.append("a", "no_stream", [event])
    h.append("b", "no_stream", [event])
    assert h.events("a")[0].event_id == h.events("b")[0].event_id == event.event_id


# -- soft delete -----------------------------------------------------------------------


def test_soft_delete_hides_stream_and_recreation_continues_numbering(h: Harness) -> None:
    h.append("s", "no_stream", [new_event(), new_event()])
    h.append("$$s", "any", [metadata_event({"$acl": {"$r": "$all"}, "custom": 7})])
    deleted = h.delete("s", 1)
    with pytest.raises(StreamNotFound):
        h.events("s")
    [marker] = h.events("$$s")
    assert deleted.position == marker.position
    assert json.loads(marker.data) == {
        "$acl": {"$r": "$all"}, "custom": 7, "$tb": DELETED_STREAM_REVISION}  # fmt: skip
    assert h.log.stream_revision("s") == 1

    result = h.append("s", "no_stream", [new_event(), new_event()])
    assert result.current_revision == 3
    assert h.revisions("s") == [2, 3]
    [rebased] = h.events("$$s")
    assert json.loads(rebased.data) == {"$acl": {"$r": "$all"}, "custom": 7, "$tb": 2}
    assert rebased.position < h.events("s")[0].position
    h.append("s", 3, [new_event()])
    assert h.revisions("s") == [2, 3, 4]


DELETE_CASES = [
    ("new", "any", (WrongExpectedVersion, None)),
    ("new", "no_stream", (WrongExpectedVersion, None)),
    ("new", "stream_exists", (WrongExpectedVersion, None)),
    ("new", 0, (WrongExpectedVersion, None)),
    ("two", "any", None),
    ("two", "stream_exists", None),
    ("two", 1, None),
    ("two", 0, (WrongExpectedVersion, 1)),
    ("two", "no_stream", (WrongExpectedVersion, 1)),
    ("soft_deleted", 1, None),
    ("soft_deleted", "any", None),
    ("soft_deleted", 0, (WrongExpectedVersion, 1)),
    ("soft_deleted", "stream_exists", (StreamDeleted, None)),
    ("tombstoned", "any", (StreamDeleted, None)),
    ("tombstoned", 1, (StreamDeleted, None)),
]


@pytest.mark.parametrize(("state", "expected", "outcome"), DELETE_CASES)
def test_delete_rules(h: Harness, state: str, expected: ExpectedRevision, outcome: object) -> None:
    stream = stream_at(h, state)
    before = h.log.last_position
    if outcome is None:
        result = h.delete(stream, expected)
        assert result.position > before
        with pytest.raises(StreamNotFound):
            h.events(stream)
        return
    error, current = outcome  # type: ignore[misc]
    with pytest.raises(error) as caught:
        h.delete(stream, expected)
    if error is WrongExpectedVersion:
        assert caught.value.current_revision == current
    assert h.log.last_position == before


# -- tombstone -------------------------------------------------------------------------

TOMBSTONE_CASES = [
    ("new", "any", None),
    ("new", "no_stream", None),
    ("new", "stream_exists", (WrongExpectedVersion, None)),
    ("new", 0, (WrongExpectedVersion, None)),
    ("two", "any", None),
    ("two", 1, None),
    ("two", "stream_exists", None),
    ("two", 0, (WrongExpectedVersion, 1)),
    ("two", "no_stream", (WrongExpectedVersion, 1)),
    ("soft_deleted", "any", None),
    ("soft_deleted", 1, None),
    ("tombstoned", "any", (StreamDeleted, None)),
    ("tombstoned", 1, (StreamDeleted, None)),
    ("tombstoned", "no_stream", (StreamDeleted, None)),
]


@pytest.mark.parametrize(("state", "expected", "outcome"), TOMBSTONE_CASES)
def test_tombstone_rules(
    h: Harness, state: str, expected: ExpectedRevision, outcome: object
) -> None:
    stream = stream_at(h, state)
    before = h.log.last_position
    if outcome is None:
        result = h.tombstone(stream, expected)
        [record] = [r for r in h.all_records() if r.position == result.position]
        assert (record.stream, record.revision, record.type) == (
            stream, DELETED_STREAM_REVISION, "$streamDeleted")  # fmt: skip
        assert record.is_system
        with pytest.raises(StreamDeleted):
            h.events(stream)
        return
    error, current = outcome  # type: ignore[misc]
    with pytest.raises(error) as caught:
        h.tombstone(stream, expected)
    if error is WrongExpectedVersion:
        assert caught.value.current_revision == current
    assert h.log.last_position == before


def test_tombstoned_stream_refuses_everything_but_its_metadata_append(h: Harness) -> None:
    stream = stream_at(h, "tombstoned")
    metastream = "$$" + stream
    for attempt in (
        lambda: h.append(stream, "any", [new_event()]),
        lambda: h.delete(stream, "any"),
        lambda: h.tombstone(stream, "any"),
        lambda: h.events(stream),
        lambda: h.events(metastream),
    ):
        with pytest.raises(StreamDeleted):
            attempt()
    assert h.append(metastream, "any", [metadata_event({"$maxCount": 3})]).current_revision == 0
    assert h.append(metastream, 0, [metadata_event({"$maxCount": 4})]).current_revision == 1
    with pytest.raises(StreamDeleted):
        h.events(metastream)
    assert h.log.stream_revision(stream) == 1

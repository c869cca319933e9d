"""EventLog, driven directly: EventStoreDB's append, read, delete and tombstone
rules, idempotency, metadata, links, `$all` bounds, group commit and durability
across a reopen. Each test runs its own log on a file database in tmp_path."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import pytest

from esdb_emulator.log.event_log import EventLog, append_size
from esdb_emulator.log.records import (
    DELETED_STREAM_REVISION,
    AppendResult,
    DeleteResult,
    ExpectedRevision,
    MaxAppendSizeExceeded,
    ProposedEvent,
    RecordedEvent,
    ResolvedEvent,
    StorageError,
    StorageFailure,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedVersion,
)
from esdb_emulator.log.transaction import RecentIds, id_cost
from esdb_emulator.log.writer import WAL_PREALLOCATED

T = TypeVar("T")
#: A table row's outcome: a success (the new revision, or None where there is nothing to
#: report), or the error expected and the current revision it must carry.
Outcome = int | None | tuple[type[Exception], int | None]


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
    h: Harness, state: str, expected: ExpectedRevision, outcome: Outcome
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
    assert isinstance(outcome, tuple)
    error, current = outcome
    with pytest.raises(error) as caught:
        h.append(stream, expected, [new_event()])
    if isinstance(caught.value, WrongExpectedVersion):
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


@pytest.mark.parametrize("expected", ["no_stream", "any"])
def test_same_event_id_may_be_used_in_two_streams(h: Harness, expected: ExpectedRevision) -> None:
    event = new_event()
    h.append("a", expected, [event])
    in_b = h.append("b", expected, [event])
    assert h.events("a")[0].event_id == h.events("b")[0].event_id == event.event_id
    assert h.append("b", expected, [event]) == in_b


def test_concurrent_retries_are_recognised_whether_grouped_or_not(h: Harness) -> None:
    batch = [new_event(), new_event()]

    async def twice(stream: str, expected: ExpectedRevision) -> list[AppendResult]:
        first = h.log.append(stream, expected, batch)
        second = h.log.append(stream, expected, batch)
        return list(await asyncio.gather(first, second))

    cases: list[tuple[str, ExpectedRevision]] = [("x", "no_stream"), ("y", "any")]
    for stream, expected in cases:
        first, second = h.run(twice(stream, expected))
        assert first == second
        assert h.revisions(stream) == [0, 1]


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
def test_delete_rules(h: Harness, state: str, expected: ExpectedRevision, outcome: Outcome) -> None:
    stream = stream_at(h, state)
    before = h.log.last_position
    if outcome is None:
        result = h.delete(stream, expected)
        assert result.position > before
        with pytest.raises(StreamNotFound):
            h.events(stream)
        return
    assert isinstance(outcome, tuple)
    error, current = outcome
    with pytest.raises(error) as caught:
        h.delete(stream, expected)
    if isinstance(caught.value, WrongExpectedVersion):
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
    h: Harness, state: str, expected: ExpectedRevision, outcome: Outcome
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
    assert isinstance(outcome, tuple)
    error, current = outcome
    with pytest.raises(error) as caught:
        h.tombstone(stream, expected)
    if isinstance(caught.value, WrongExpectedVersion):
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


# -- metadata applied on read ------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "forwards"),
    [
        ({}, [0, 1, 2, 3, 4]),
        ({"$maxCount": 2}, [3, 4]),
        ({"$tb": 3}, [3, 4]),
        ({"$tb": 1, "$maxCount": 3}, [2, 3, 4]),
        ({"$tb": 4, "$maxCount": 3}, [4]),
        ({"$maxAge": 3600}, [0, 1, 2, 3, 4]),
        ({"$tb": 9}, []),
        ({"$maxCount": "two"}, [0, 1, 2, 3, 4]),  # malformed values are ignored
    ],
)
def test_metadata_limits_what_stream_reads_return(
    h: Harness, metadata: dict[str, object], forwards: list[int]
) -> None:
    h.append("s", "no_stream", [new_event() for _ in range(5)])
    h.append("$$s", "any", [metadata_event(metadata)])
    assert h.revisions("s") == forwards
    assert h.revisions("s", backwards=True) == forwards[::-1]
    assert h.revisions("s", revision=0, limit=1) == forwards[:1]
    assert h.revisions("s", backwards=True, revision=4, limit=2) == forwards[::-1][:2]


def test_max_age_hides_events_older_than_it(h: Harness) -> None:
    h.append("s", "no_stream", [new_event()])
    h.append("$$s", "any", [metadata_event({"$maxAge": 1})])
    deadline = time.monotonic() + 10
    while h.revisions("s") and time.monotonic() < deadline:
        time.sleep(0.05)  # wait, with a deadline, for event 0 to be a second old
    assert h.revisions("s") == []
    h.append("s", 0, [new_event()])
    assert h.revisions("s") == [1]


def test_metastream_reads_return_only_the_latest_metadata(h: Harness) -> None:
    h.append("$$s", "no_stream", [metadata_event({"$maxCount": 5})])
    h.append("$$s", 0, [metadata_event({"$maxCount": 6})])
    [latest] = h.events("$$s")
    assert (latest.revision, json.loads(latest.data)) == (1, {"$maxCount": 6})
    assert h.revisions("$$s", backwards=True, limit=1) == [1]
    with pytest.raises(StreamNotFound):
        h.events("$$other")


def test_reads_at_and_past_the_ends(h: Harness) -> None:
    h.append("s", "no_stream", [new_event() for _ in range(3)])
    assert h.revisions("s", revision=1) == [1, 2]
    assert h.revisions("s", revision=1, backwards=True) == [1, 0]
    assert h.revisions("s", revision=3) == []
    assert h.revisions("s", revision=10, backwards=True) == [2, 1, 0]
    with pytest.raises(StreamNotFound):
        h.events("missing")


def test_uint64_revisions_positions_and_limits_from_the_wire_are_safe(h: Harness) -> None:
    h.append("s", "no_stream", [new_event() for _ in range(3)])
    top = 2**64 - 1
    assert h.revisions("s", revision=top) == []
    assert h.revisions("s", revision=top, backwards=True, limit=top) == [2, 1, 0]
    last = h.log.last_position
    forwards = h.log.read_all(position=top, backwards=False, limit=top, resolve_links=False)
    backwards = h.log.read_all(position=top, backwards=True, limit=1, resolve_links=False)
    assert forwards == []
    assert [r.event.position for r in backwards] == [last]


# -- links -----------------------------------------------------------------------------


def test_links_resolve_to_their_targets_or_stay_links(h: Harness) -> None:
    h.append("target", "no_stream", [new_event("A"), new_event("B"), new_event("C")])
    h.append("$$target", "any", [metadata_event({"$tb": 1})])
    h.append("gone", "no_stream", [new_event()])
    h.tombstone("gone", "any")
    links = [link_to(1, "target"), link_to(2, "target"), link_to(0, "target"),
             link_to(7, "target"), link_to(0, "gone"), new_event("$>", b"garbage"),
             new_event("Plain")]  # fmt: skip
    h.append("links", "no_stream", links)
    resolved = h.log.read_stream(
        "links", revision=None, backwards=False, limit=100, resolve_links=True)  # fmt: skip
    got = [(r.event.stream, r.event.type, r.link is not None) for r in resolved]
    assert got == [
        ("target", "B", True), ("target", "C", True), ("links", "$>", False),
        ("links", "$>", False), ("links", "$>", False), ("links", "$>", False),
        ("links", "Plain", False)]  # fmt: skip
    assert resolved[0].link is not None
    assert resolved[0].link.revision == 0
    assert resolved[0].original.stream == "links"
    unresolved = h.log.read_stream(
        "links", revision=None, backwards=False, limit=100, resolve_links=False)  # fmt: skip
    assert all(r.link is None and r.event.stream == "links" for r in unresolved)
    link_position = resolved[0].link.position
    from_all = h.log.read_all(position=link_position, backwards=False, limit=1, resolve_links=True)
    assert isinstance(from_all[0], ResolvedEvent)
    assert from_all[0].event.type == "B"


# -- $all --------------------------------------------------------------------------------


def test_read_all_is_inclusive_forwards_and_exclusive_backwards(h: Harness) -> None:
    h.append("s", "no_stream", [new_event() for _ in range(5)])
    records = h.all_records()
    positions = [r.position for r in records]
    middle = positions[-3]

    def read(position: int | None, backwards: bool, limit: int = 100) -> list[int]:
        return [r.event.position for r in h.log.read_all(
            position=position, backwards=backwards, limit=limit, resolve_links=False)]  # fmt: skip

    assert read(middle, backwards=False) == positions[-3:]
    assert read(middle, backwards=True) == positions[:-3][::-1]
    assert read(middle + 1, backwards=False) == positions[-2:]  # inside a gap
    assert read(None, backwards=False, limit=2) == positions[:2]
    assert read(None, backwards=True, limit=2) == positions[::-1][:2]
    assert read(positions[-1] + 1, backwards=False) == []
    assert read(positions[0], backwards=True) == []
    assert read(0, backwards=False) == positions


def test_positions_increase_strictly_with_gaps_and_never_start_at_zero(h: Harness) -> None:
    results = [h.append(f"s{i}", "any", [new_event() for _ in range(3)]) for i in range(3)]
    records = h.all_records()
    positions = [r.position for r in records]
    assert positions[0] > 0
    assert all(b - a > 1 for a, b in itertools.pairwise(positions))
    for i, result in enumerate(results):
        batch = [r for r in records if r.stream == f"s{i}"]
        assert result.position == batch[-1].position == max(r.position for r in batch)
    assert h.log.last_position == positions[-1]


def test_system_events_are_seeded_once_and_an_epoch_written_each_start(h: Harness) -> None:
    def system_streams() -> dict[str, list[str]]:
        streams: dict[str, list[str]] = {}
        for record in h.all_records():
            streams.setdefault(record.stream, []).append(record.type)
        return streams

    seeded = system_streams()
    assert seeded == {
        "$epochs": ["$epoch-information"], "$user-admin": ["$user"],
        "$users": ["$UserCreated", "$UserCreated"], "$user-ops": ["$user"],
        "$settings": ["$settings"]}  # fmt: skip
    assert all(r.is_system for r in h.all_records())
    h.reopen()
    h.reopen()
    again = system_streams()
    assert again == {**seeded, "$epochs": ["$epoch-information"] * 3}
    epochs = [json.loads(e.data)["epochNumber"] for e in h.all_records() if e.stream == "$epochs"]
    assert epochs == [0, 1, 2]


def test_created_is_ticks_since_the_unix_epoch_at_commit(h: Harness) -> None:
    before = time.time_ns() // 100
    h.append("s", "no_stream", [new_event()])
    after = time.time_ns() // 100
    assert before <= h.events("s")[0].created <= after


# -- group commit and concurrency ---------------------------------------------------------


def test_concurrent_appends_share_commits(h: Harness) -> None:
    async def many() -> list[AppendResult]:
        return await asyncio.gather(
            *(h.log.append(f"c{i}", "no_stream", [new_event()]) for i in range(32)))  # fmt: skip

    commits = h.log.commit_count
    results = h.run(many())
    assert h.log.commit_count - commits < 32
    assert len({r.position for r in results}) == 32
    assert all(h.revisions(f"c{i}") == [0] for i in range(32))


def test_appends_longer_than_one_insert_statement_keep_order_and_positions(h: Harness) -> None:
    # 300 events take three INSERT statements (MAX_ROWS_PER_INSERT = 128); the group
    # of the second and third appends continues past a statement's end too.
    big = [new_event(data=b'{"n": %d}' % n) for n in range(300)]

    async def grouped() -> list[AppendResult]:
        return await asyncio.gather(
            h.log.append("long", "no_stream", big),
            h.log.append("other", "no_stream", big[:130]),
            h.log.append("long", 299, [new_event()]),
        )

    first, other, last = h.run(grouped())
    stored = h.events("long", limit=1000)
    assert [e.revision for e in stored] == list(range(301))
    assert [e.event_id for e in stored[:300]] == [e.event_id for e in big]
    assert [e.data for e in stored[:300]] == [e.data for e in big]
    assert [e.position for e in stored] == sorted(e.position for e in stored)
    positions = {r.position for r in h.all_records() if r.stream in ("long", "other")}
    assert len(positions) == 431
    assert (first.current_revision, other.current_revision, last.current_revision) == (
        299, 129, 300)  # fmt: skip
    assert first.position == stored[299].position
    assert last.position == stored[300].position


def test_a_failing_request_does_not_fail_the_others_of_its_group(h: Harness) -> None:
    async def mixed() -> list[AppendResult | BaseException]:
        return list(
            await asyncio.gather(
                h.log.append("g1", "no_stream", [new_event()]),
                h.log.append("g2", 5, [new_event()]),
                h.log.append("g1", 0, [new_event()]),
                h.log.append("g1", 0, [new_event()]),  # loses to the previous one
                return_exceptions=True,
            )
        )

    ok1, wrong, ok2, lost = h.run(mixed())
    assert isinstance(ok1, AppendResult)
    assert isinstance(ok2, AppendResult)
    assert isinstance(wrong, WrongExpectedVersion)
    assert wrong.current_revision is None
    assert isinstance(lost, WrongExpectedVersion)
    assert lost.current_revision == 1
    assert h.revisions("g1") == [0, 1]
    with pytest.raises(StreamNotFound):
        h.events("g2")


def test_wait_for_commit_after_wakes_every_waiter_once_committed(h: Harness) -> None:
    async def scenario() -> None:
        start = h.log.last_position
        await asyncio.wait_for(h.log.wait_for_commit_after(start - 1), 1)  # already true
        waiters = [asyncio.create_task(h.log.wait_for_commit_after(start)) for _ in range(3)]
        cancelled = asyncio.create_task(h.log.wait_for_commit_after(start))
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        cancelled.cancel()
        result = await h.log.append("s", "any", [new_event()])
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        assert h.log.last_position == result.position > start
        assert cancelled.cancelled()

    h.run(scenario())


# -- limits, bad input and failures ------------------------------------------------------------


def test_max_append_size_counts_data_metadata_and_type(tmp_path: Path) -> None:
    small = Harness(tmp_path / "small.db", max_append_size=1000)
    try:
        fits = new_event("T", b"x" * (1000 - 2 - 2), metadata=b"{}")
        assert append_size(fits) == 1000
        small.append("s", "no_stream", [fits])
        before = small.log.last_position
        for too_big in ([new_event("T", b"x" * 997, metadata=b"{}")],
                        [new_event("T", b"x" * 500), new_event("T", b"x" * 500)]):  # fmt: skip
            with pytest.raises(MaxAppendSizeExceeded) as caught:
                small.append("s", "any", too_big)
            assert caught.value.max_append_size == 1000
        assert small.log.last_position == before
        assert small.revisions("s") == [0]
    finally:
        small.close()


@pytest.mark.parametrize(
    ("stream", "expected", "events"),
    [
        ("s", -1, [new_event()]),
        ("s", True, [new_event()]),
        ("s", "nostream", [new_event()]),
        ("s", DELETED_STREAM_REVISION, [new_event()]),
        ("", "any", [new_event()]),
        ("s", "any", [new_event("")]),
    ],
)
def test_malformed_requests_are_refused_before_queueing(
    h: Harness, stream: str, expected: Any, events: list[ProposedEvent]
) -> None:
    before = h.log.last_position
    with pytest.raises(ValueError, match=r"expected revision|stream name|event type"):
        h.append(stream, expected, events)
    assert h.log.last_position == before


def test_a_database_write_failure_reaches_the_caller_and_writes_nothing(tmp_path: Path) -> None:
    # A real SQLITE_FULL: the database may grow only a few pages past its size.
    path = tmp_path / "full.db"
    Harness(path).close()
    with closing(sqlite3.connect(path)) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    capped = Harness(path, max_db_bytes=(pages + 8) * 8192)

    async def together() -> list[AppendResult | BaseException]:
        return list(
            await asyncio.gather(
                capped.log.append("big", "no_stream", [new_event(data=b"x" * 200_000)]),
                capped.log.append("small", "no_stream", [new_event()]),
                return_exceptions=True,
            )
        )

    try:
        big, small = capped.run(together())
        assert isinstance(big, StorageFailure)
        assert "full" in str(big)
        assert isinstance(big.__cause__, sqlite3.Error)
        assert isinstance(small, AppendResult)
        with pytest.raises(StreamNotFound):
            capped.events("big")
    finally:
        capped.close()
    uncapped = Harness(path)
    try:
        result = uncapped.append("big", "no_stream", [new_event(data=b"x" * 200_000)])
        assert result.position > small.position
        assert uncapped.revisions("big") == [0]
        assert uncapped.revisions("small") == [0]
    finally:
        uncapped.close()


# -- reopening -----------------------------------------------------------------------------


def test_reopen_keeps_everything_and_continues_positions(h: Harness) -> None:
    h.append("kept", "no_stream", [new_event(), new_event()])
    h.append("soft", "no_stream", [new_event()])
    h.delete("soft", 0)
    h.tombstone("dead", "any")
    before = [(r.position, r.stream, r.revision, r.event_id) for r in h.all_records()]
    last = h.log.last_position
    h.reopen()
    after = [(r.position, r.stream, r.revision, r.event_id) for r in h.all_records()]
    assert after[: len(before)] == before
    assert h.log.last_position > last  # this start's epoch
    with pytest.raises(WrongExpectedVersion):
        h.append("kept", "no_stream", [new_event()])
    assert h.append("kept", 1, [new_event()]).position > h.log.last_position - 1000
    assert h.append("soft", "no_stream", [new_event()]).current_revision == 1
    assert h.revisions("soft") == [1]
    with pytest.raises(StreamDeleted):
        h.append("dead", "any", [new_event()])


def test_a_file_log_preallocates_its_wal_and_reads_past_the_zeros_after_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prealloc.db"
    h = Harness(path)
    try:
        written = h.append("s", "no_stream", [new_event(), new_event()])
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size >= WAL_PREALLOCATED
        # What a kill -9 leaves: the WAL with its frames and the zeros after them.
        crashed = tmp_path / "crashed.db"
        for suffix in ("", "-wal"):
            Path(f"{crashed}{suffix}").write_bytes(Path(f"{path}{suffix}").read_bytes())
    finally:
        h.close()
    reopened = Harness(crashed)
    try:
        assert reopened.revisions("s") == [0, 1]
        assert reopened.append("s", 1, [new_event()]).position > written.position
    finally:
        reopened.close()


def test_in_memory_log_serves_reads_and_leaves_nothing_behind() -> None:
    memory = Harness(None)
    try:
        memory.append("s", "no_stream", [new_event()])
        assert memory.revisions("s") == [0]
        scratch = memory.log._scratch
        assert scratch is not None
        assert scratch.exists()
    finally:
        memory.close()
    assert not scratch.exists()


def test_in_memory_log_removes_the_leftovers_of_killed_processes() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    leftover = Path(tempfile.mkdtemp(prefix=f"esdb-emulator-{dead.pid}-", dir=base))
    (leftover / "events.db").write_bytes(b"")
    memory = Harness(None)
    memory.close()
    assert not leftover.exists()


def test_closing_wakes_commit_waiters_with_an_error(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "waiters.db")

    async def wait_then_close() -> None:
        waiter = asyncio.ensure_future(harness.log.wait_for_commit_after(harness.log.last_position))
        await asyncio.sleep(0)
        await harness.log.close()
        with pytest.raises(StorageError):
            await asyncio.wait_for(waiter, 5)

    harness.run(wait_then_close())
    harness.runner.close()


def test_an_append_made_while_the_log_is_closing_is_refused(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "closing-now.db")

    async def append_during_close() -> None:
        closing = asyncio.ensure_future(harness.log.close())
        await asyncio.sleep(0)  # close has begun and waits for its checkpointer
        assert not closing.done()
        with pytest.raises(StorageError, match="not open"):
            await harness.log.append("late", "any", [new_event()])
        await asyncio.wait_for(closing, 10)

    harness.run(append_during_close())
    harness.runner.close()


def test_close_finishes_queued_appends_and_later_ones_are_refused(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "closing.db")

    async def append_then_close() -> list[AppendResult]:
        pending = [
            asyncio.ensure_future(harness.log.append(f"q{i}", "no_stream", [new_event()]))
            for i in range(20)
        ]
        await asyncio.sleep(0)  # every append is queued
        await harness.log.close()
        with pytest.raises(StorageError):
            await harness.log.append("late", "any", [new_event()])
        return list(await asyncio.gather(*pending))

    results = harness.run(append_then_close())
    harness.runner.close()
    assert len({r.position for r in results}) == 20
    reopened = Harness(tmp_path / "closing.db")
    try:
        assert all(reopened.revisions(f"q{i}") == [0] for i in range(20))
    finally:
        reopened.close()


def test_recent_ids_keep_the_newest_half_budget_and_never_more_than_the_budget() -> None:
    ids = RecentIds(budget_bytes=100 * id_cost("s"))
    for n in range(300):
        ids.add_all({f"e{n}": n}, id_cost("s"))
        remembered = [k for k in range(n + 1) if ids.get(f"e{k}") is not None]
        assert len(remembered) <= 100
        assert remembered == list(range(n + 1 - len(remembered), n + 1))
        assert len(remembered) >= min(n + 1, 50)

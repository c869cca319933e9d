"""Sixteen writers race on one stream with exact expected revisions.

Each writer has its own client and thread; it reads the current version, appends
one event expecting exactly that revision, and on WrongCurrentVersion re-reads and
tries again. Half use the `Append` RPC (a single event), half `BatchAppend` (a
list). Optimistic concurrency must make the result a gapless stream holding every
acknowledged event exactly once, at the position its append returned.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from esdbclient import EventStoreDBClient, NewEvent
from esdbclient.exceptions import WrongCurrentVersion

WRITERS = 16
APPENDS_PER_WRITER = 8
DEADLINE = 60.0


@dataclass(frozen=True)
class Acknowledged:
    event_id: uuid.UUID
    commit_position: int


def run_writer(
    uri: str,
    stream: str,
    writer: int,
    start: threading.Barrier,
    acknowledged: list[Acknowledged],
    conflicts: list[int],
) -> None:
    with EventStoreDBClient(uri) as client:
        start.wait(timeout=DEADLINE)
        for n in range(APPENDS_PER_WRITER):
            new = NewEvent(type="Raced", data=f'{{"writer":{writer},"n":{n}}}'.encode())
            while True:
                current = client.get_current_version(stream)
                events = new if writer % 2 == 0 else [new]
                try:
                    position = client.append_to_stream(
                        stream, current_version=current, events=events
                    )
                except WrongCurrentVersion:
                    conflicts.append(writer)
                    continue
                acknowledged.append(Acknowledged(new.id, position))
                break


def test_sixteen_writers_with_exact_revisions_leave_a_gapless_stream_of_every_ack(
    esdb_uri: str, client: EventStoreDBClient, stream_name: str
) -> None:
    acknowledged: list[Acknowledged] = []
    conflicts: list[int] = []
    start = threading.Barrier(WRITERS)
    threads = [
        threading.Thread(
            target=run_writer,
            args=(esdb_uri, stream_name, w, start, acknowledged, conflicts),
            daemon=True,
        )
        for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE)

    assert not any(thread.is_alive() for thread in threads)
    stored = client.get_stream(stream_name)
    assert len(acknowledged) == WRITERS * APPENDS_PER_WRITER
    assert [e.stream_position for e in stored] == list(range(WRITERS * APPENDS_PER_WRITER))
    assert sorted(e.id for e in stored) == sorted(a.event_id for a in acknowledged)
    position_of = {e.id: e.commit_position for e in stored}
    assert all(position_of[a.event_id] == a.commit_position for a in acknowledged)
    assert conflicts, "the writers never collided, so the race tested nothing"

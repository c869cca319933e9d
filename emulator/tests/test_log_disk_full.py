"""F8, the event store's disk full: appends through the real esdbclient to an emulator
process whose database lives on a disk that fills up, then space comes back.

Injected with `fault_disk.open_disk`: a real 48 MiB tmpfs holding the database, its WAL
and a ballast file that takes every free block (the kernel answers ENOSPC; the 17 MiB the
WAL preallocates is used first, then the WAL must grow and cannot). Where no tmpfs can be
mounted, the node runs with `--max-db-size` (SQLite's `max_page_count`: the same
SQLITE_FULL, without a file system running out), and "space comes back" is a restart
without the cap. The test prints which one ran.

Pass: the append that does not fit is answered with an error naming the full disk (single
events through `Append`, a batch through `BatchAppend`); nothing of it is visible; what was
acknowledged before stays readable, from its stream and `$all`; once space is back the same
append, retried with the same event ids and expected revision, is written exactly once, new
appends are accepted, and the database passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import EventStoreDBClientException, NotFound, UnknownError
from esdbclient.protos.Grpc import streams_pb2, streams_pb2_grpc
from test_wire_contract import batch_request, message

from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.fault_disk import open_disk

pytestmark = pytest.mark.emulator_only

EVENT_BYTES = 400_000
CAP_BYTES = 6 * 1024 * 1024
"""The page-cap fallback's database size limit."""
MAX_APPENDS = 400
"""Bound on the appends tried before the disk must have been found full (160 MB)."""


def _big(n: int, size: int = EVENT_BYTES) -> NewEvent:
    return NewEvent(type="Filler", data=b'{"n":%d,"pad":"%s"}' % (n, b"x" * size))


def test_event_store_disk_full_refuses_the_append_writes_nothing_and_recovers(
    tmp_path: Path,
) -> None:
    with open_disk(tmp_path / "disk", size_mb=48) as disk:
        print(f"F8 event store: mechanism={disk.mechanism} {disk.reason}".rstrip())
        capped = disk.mechanism == "page-cap"
        node = EmulatorProcess(
            disk.path / "events.db",
            log_path=tmp_path / "emulator.log",
            max_db_bytes=CAP_BYTES if capped else None,
        )
        node.start()
        try:
            _scenario(node, disk.fill, disk.free if not capped else None)
        finally:
            node.stop()
        with closing(sqlite3.connect(disk.path / "events.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _scenario(
    node: EmulatorProcess, fill: Callable[[], None], free: Callable[[], None] | None
) -> None:
    stream, batch_stream = f"big-{uuid.uuid4().hex}", f"batch-{uuid.uuid4().hex}"
    client = EventStoreDBClient(node.uri)
    try:
        kept = client.append_to_stream(
            f"kept-{uuid.uuid4().hex}", current_version=StreamState.NO_STREAM,
            events=[NewEvent(type="Kept", data=b"{}") for _ in range(3)],
        )  # fmt: skip
        fill()
        acked: list[uuid.UUID] = []
        refused: NewEvent | None = None
        error: EventStoreDBClientException | None = None
        for n in range(MAX_APPENDS):
            event = _big(n)
            current = StreamState.NO_STREAM if n == 0 else n - 1
            try:
                client.append_to_stream(stream, current_version=current, events=event, timeout=30)
            except EventStoreDBClientException as e:
                refused, error = event, e
                break
            acked.append(event.id)
        assert refused is not None, "the disk never filled up"
        assert error is not None
        print(f"F8 event store: {len(acked)} appends of {EVENT_BYTES} B acknowledged, then full")
        assert "full" in str(error), f"the error does not say the disk is full: {error!r}"

        # A batch that cannot be written is refused whole: esdbclient raises UnknownError
        # for the server's `Unknown` reply, whose message names the cause.
        batch = [_big(1000 + i, EVENT_BYTES // 2) for i in range(3)]
        with pytest.raises(UnknownError):
            client.append_to_stream(
                batch_stream, current_version=StreamState.NO_STREAM, events=batch, timeout=30
            )
        [reply] = _raw_batch_append(node.uri, batch_stream, batch)
        assert reply.WhichOneof("result") == "error"
        assert "full" in reply.error.message, reply.error

        # Nothing half-written, everything acknowledged still readable.
        assert [e.id for e in client.get_stream(stream)] == acked
        with pytest.raises(NotFound):
            client.get_stream(batch_stream)
        in_all = [e.id for e in client.read_all(commit_position=kept, filter_exclude=[])]
        assert [i for i in in_all if i in set(acked)] == acked
        assert refused.id not in in_all

        # Space comes back: the same appends, retried with the same ids, land once.
        if free is not None:
            free()
        else:
            node.max_db_bytes = None
            node.restart()
            client.close()
            client = EventStoreDBClient(node.uri)
        retried = client.append_to_stream(
            stream, current_version=len(acked) - 1, events=refused, timeout=30
        )
        again = client.append_to_stream(
            stream, current_version=len(acked) - 1, events=refused, timeout=30
        )
        assert again == retried  # the same append recognised, not written twice
        client.append_to_stream(
            batch_stream, current_version=StreamState.NO_STREAM, events=batch, timeout=30
        )
        assert [e.id for e in client.get_stream(stream)] == [*acked, refused.id]
        assert [e.id for e in client.get_stream(batch_stream)] == [e.id for e in batch]
        client.append_to_stream(
            stream, current_version=len(acked), events=NewEvent(type="After", data=b"{}")
        )
    finally:
        client.close()


def _raw_batch_append(
    uri: str, stream: str, events: list[NewEvent]
) -> list[streams_pb2.BatchAppendResp]:
    """The same batch through a raw stub, to see the reply esdbclient turns into an
    exception without its message."""
    messages = [message(e.type, e.data, str(e.id)) for e in events]
    url = urlparse(uri)
    with grpc.insecure_channel(f"{url.hostname}:{url.port}") as channel:
        stub = streams_pb2_grpc.StreamsStub(channel)  # type: ignore[no-untyped-call]
        return list(
            stub.BatchAppend(iter([batch_request(stream, "no_stream", messages)]), timeout=30)
        )

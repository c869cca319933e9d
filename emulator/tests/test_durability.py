"""An acknowledged append survives kill -9 of the emulator.

Writers append through the real esdbclient to their own streams (single events
through `Append`, batches through `BatchAppend`) while the server process is
SIGKILLed under them. After a restart on the same database every acknowledged
event is there, at the revision and commit position it was acknowledged with;
batches are all or nothing; positions go on increasing; a retry of an
acknowledged append is recognised as already written.

And no node outlives what it serves: a node started by `EmulatorProcess` stops
when its launcher is killed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import EventStoreDBClientException

from esdb_emulator.node.launcher import EmulatorProcess

pytestmark = pytest.mark.emulator_only

DEADLINE = 60.0
#: (batch size) of each writer: 1 goes through `Append`, more through `BatchAppend`.
WRITER_BATCHES = (1, 1, 1, 10, 50)
ACKS_BEFORE_KILL = 150


@dataclass(frozen=True)
class Ack:
    stream: str
    first_revision: int
    event_ids: tuple[uuid.UUID, ...]
    commit_position: int


@dataclass
class Writer:
    """Appends batches of `batch` events to its own stream with exact expected
    revisions until the server dies; keeps what was acknowledged."""

    uri: str
    batch: int
    acked: list[Ack]
    enough: threading.Event
    killed: threading.Event
    stream: str = ""
    error_before_kill: BaseException | None = None

    def __post_init__(self) -> None:
        self.stream = f"durable-{self.batch}-{uuid.uuid4().hex[:10]}"

    def run(self) -> None:
        client = EventStoreDBClient(self.uri)
        try:
            self._append_until_the_server_dies(client)
        finally:
            client.close()

    def _append_until_the_server_dies(self, client: EventStoreDBClient) -> None:
        next_revision = 0
        while True:
            events = [
                NewEvent(type="Written", data=f'{{"revision":{next_revision + i}}}'.encode())
                for i in range(self.batch)
            ]
            current = StreamState.NO_STREAM if next_revision == 0 else next_revision - 1
            try:
                position = client.append_to_stream(
                    self.stream,
                    current_version=current,
                    events=events[0] if self.batch == 1 else events,
                    timeout=10,
                )
            except EventStoreDBClientException as exc:
                if not self.killed.is_set():
                    self.error_before_kill = exc
                return
            self.acked.append(
                Ack(self.stream, next_revision, tuple(e.id for e in events), position)
            )
            if len(self.acked) >= ACKS_BEFORE_KILL:
                self.enough.set()  # kill right after an ack: the likeliest moment to lose it
            next_revision += self.batch


def test_acknowledged_appends_survive_kill_9(emulator: EmulatorProcess) -> None:
    acked: list[Ack] = []
    enough, killed = threading.Event(), threading.Event()
    writers = [Writer(emulator.uri, batch, acked, enough, killed) for batch in WRITER_BATCHES]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    assert enough.wait(DEADLINE), "the writers were not acknowledged in time"
    killed.set()
    emulator.kill()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    assert [w.error_before_kill for w in writers] == [None] * len(writers)
    acknowledged = list(acked)
    emulator.restart()

    with EventStoreDBClient(emulator.uri) as client:
        for writer in writers:
            stored = client.get_stream(writer.stream)
            mine = [a for a in acknowledged if a.stream == writer.stream]
            assert mine, f"writer of batch {writer.batch} was never acknowledged"
            for ack in mine:
                batch = stored[ack.first_revision : ack.first_revision + len(ack.event_ids)]
                assert tuple(e.id for e in batch) == ack.event_ids
                assert [e.stream_position for e in batch] == list(
                    range(ack.first_revision, ack.first_revision + len(ack.event_ids))
                )
                assert batch[-1].commit_position == ack.commit_position
            # An append in flight at the kill is all there or not there at all.
            assert len(stored) % writer.batch == 0
            assert len(stored) <= mine[-1].first_revision + 2 * writer.batch

        records = list(client.read_all(filter_exclude=[]))
        positions = [r.commit_position or 0 for r in records]
        assert positions == sorted(set(positions))
        assert all(p > 0 for p in positions)
        newest = max(a.commit_position for a in acknowledged)
        after = client.append_to_stream(
            f"after-{uuid.uuid4().hex}", current_version=StreamState.NO_STREAM,
            events=NewEvent(type="Later", data=b"{}"),
        )  # fmt: skip
        assert after > max(positions) >= newest


def test_retry_of_an_acknowledged_append_after_kill_9_is_recognised(
    emulator: EmulatorProcess,
) -> None:
    stream = f"retried-{uuid.uuid4().hex}"
    events = [NewEvent(type="Once", data=b"{}") for _ in range(3)]
    with EventStoreDBClient(emulator.uri) as client:
        original = client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=events
        )
    emulator.kill()
    emulator.restart()
    with EventStoreDBClient(emulator.uri) as client:
        retried = client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=events
        )
        assert retried == original
        assert [e.id for e in client.get_stream(stream)] == [e.id for e in events]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


LAUNCHER = """
import sys, time
from pathlib import Path
from esdb_emulator.node.launcher import EmulatorProcess
node = EmulatorProcess(Path(sys.argv[1])).start()
print(node.pid, flush=True)
time.sleep(600)
"""


def test_a_node_started_by_emulator_process_stops_when_its_launcher_is_killed(
    tmp_path: Path,
) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "orphan.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        node = int(launcher.stdout.readline())
    finally:
        launcher.kill()
        launcher.wait()
    deadline = time.monotonic() + DEADLINE
    while Path(f"/proc/{node}").exists() and _state(node) != "Z":
        assert time.monotonic() < deadline, f"node {node} outlived its launcher"
        time.sleep(0.05)

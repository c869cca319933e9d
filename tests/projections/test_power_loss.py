"""F11, crash images under load: the emulator (synchronous=FULL) takes appends from a
writer while a worker process commits read-model batches; at seeded random instants both
processes are frozen (SIGSTOP) and their database files are copied the way a crash would
leave them, the database and its WAL without the `-shm` index, then thawed (SIGCONT).
Each copy is then opened as a fresh process would after the crash.

What is simulated: the process dying at an arbitrary instant (between any two system
calls, mid-transaction, mid-checkpoint), and the loss of the shared-memory WAL index,
which SQLite must rebuild from the WAL. What is NOT simulated: the kernel losing written
but unsynced pages (the copy reads the page cache, so it holds everything written, synced
or not) and torn sector writes; those need a VM hard stop or SQLite's crash VFS. That
`synchronous=FULL` fsyncs before each acknowledgement is what the durability of the
acked appends rests on beyond this test.

Pass, for every image: `PRAGMA integrity_check` is ok for both databases; every append
acknowledged before the freeze is there at its revision; every read-model batch seen
committed before the freeze is there, and the ledger agrees with the per-stream positions.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import threading
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from readside_harness import applied

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore
from projections.location import ReadModelFile

pytestmark = pytest.mark.emulator_only

IMAGES = int(os.environ.get("F11_IMAGES", "8"))
SEED = 1111


def _copy_crash_image(db: Path, into: Path) -> Path:
    """The database and its WAL, as a crash leaves them (no -shm)."""
    into.mkdir(parents=True)
    target = into / db.name
    shutil.copyfile(db, target)
    wal = Path(f"{db}-wal")
    if wal.exists():
        shutil.copyfile(wal, Path(f"{target}-wal"))
    return target


def test_crash_images_taken_under_load_hold_every_ack_and_every_committed_batch(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    assert emulator.db_path is not None
    assert emulator.pid is not None
    store = EsdbStore(emulator.uri)
    run_orders(store, 10, seed=SEED)
    db = tmp_path / "order_timeline.db"
    worker = WorkerProcess(
        emulator.uri, "order_timeline", db, tmp_path / "w.log", "--batch-size", "10"
    ).start()
    stream = f"acked-{uuid.uuid4().hex}"
    acked: list[uuid.UUID] = []
    done = threading.Event()

    def append_until_done() -> None:
        with closing(EventStoreDBClient(emulator.uri)) as client:
            while not done.is_set():
                event = NewEvent(type="Acked", data=b"{}")
                current = StreamState.NO_STREAM if not acked else len(acked) - 1
                client.append_to_stream(stream, current_version=current, events=event)
                acked.append(event.id)

    writers = [
        threading.Thread(target=append_until_done, daemon=True),
        threading.Thread(target=lambda: run_orders(store, 40, seed=SEED + 1), daemon=True),
    ]
    rng = random.Random(SEED)
    images: list[tuple[Path, int, Path, int]] = []
    try:
        wait_until(lambda: applied(db) > 0, 30, "the worker's first batch")
        for thread in writers:
            thread.start()
        for n in range(IMAGES):
            threading.Event().wait(rng.uniform(0.05, 0.4))  # the crash instant
            acks_before, batches_before = len(acked), applied(db)
            live = ReadModelFile(db).current()
            assert live is not None
            os.kill(emulator.pid, signal.SIGSTOP)
            assert worker.process is not None
            worker.process.send_signal(signal.SIGSTOP)
            try:
                event_image = _copy_crash_image(emulator.db_path, tmp_path / f"img{n}" / "es")
                model_image = _copy_crash_image(live, tmp_path / f"img{n}" / "rm")
            finally:
                worker.process.send_signal(signal.SIGCONT)
                os.kill(emulator.pid, signal.SIGCONT)
            images.append((event_image, acks_before, model_image, batches_before))
    finally:
        done.set()
        for thread in writers:
            thread.join(60)
        worker.stop()
        store.close()
    assert len(acked) > 0

    for event_image, acks_before, model_image, batches_before in images:
        with closing(sqlite3.connect(event_image)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = [
                uuid.UUID(str(row[0]))
                for row in conn.execute(
                    "SELECT event_id FROM events WHERE stream = ? ORDER BY revision", (stream,)
                )
            ]
        assert stored[:acks_before] == acked[:acks_before], f"{event_image}: an ack was lost"
        with closing(sqlite3.connect(model_image)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            (ledger,) = conn.execute("SELECT count(*) FROM tracking_applied").fetchone()
            assert ledger >= batches_before, f"{model_image}: a committed batch was lost"
            mismatched = conn.execute(
                "SELECT p.stream FROM tracking_positions p JOIN (SELECT stream,"
                " max(revision) AS top, count(*) AS n FROM tracking_applied GROUP BY stream) a"
                " USING (stream) WHERE p.revision != a.top OR a.n != a.top + 1"
            ).fetchall()
            assert mismatched == []
    print(f"F11: {len(images)} crash images, {len(acked)} appends acknowledged")

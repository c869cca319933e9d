"""`esdb-emulator` misused as a new user would: a second server on one database, a folder
that does not exist, a busy or impossible port, a corrupt database. Each gets a clear
message and the documented exit code, never a traceback. Real processes throughout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from esdb_emulator.node.launcher import EmulatorProcess

pytestmark = pytest.mark.emulator_only


def emulator(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `esdb-emulator` to completion (it must refuse, so it must exit)."""
    return subprocess.run(
        [sys.executable, "-m", "esdb_emulator", "--log-level", "warning", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def message(done: subprocess.CompletedProcess[str]) -> str:
    """The command's own line on stderr (gRPC's C core may log before it)."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("esdb-emulator")]
    assert lines, done.stderr
    return lines[-1]


def test_a_second_server_on_the_same_database_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    first = EmulatorProcess(db, log_path=tmp_path / "first.log").start()
    try:
        refused = emulator("--db", str(db), "--port", "0")
        assert refused.returncode == 2, refused.stderr
        text = message(refused)
        assert f"already served by pid {first.pid}" in text
        assert str(db) in text
        assert "Traceback" not in refused.stderr
    finally:
        first.kill()  # SIGKILL: the lock must not outlive its holder
    restarted = EmulatorProcess(db, log_path=tmp_path / "second.log").start()
    try:
        client = EventStoreDBClient(restarted.uri)
        try:
            client.append_to_stream(
                "after-kill", current_version=StreamState.NO_STREAM, events=[NewEvent("T", b"{}")]
            )
            assert len(client.get_stream("after-kill")) == 1
        finally:
            client.close()
    finally:
        assert restarted.stop() == 0


def test_missing_parent_folders_of_the_database_are_created(tmp_path: Path) -> None:
    db = tmp_path / "var" / "deeper" / "events.db"
    with EmulatorProcess(db, log_path=tmp_path / "node.log") as node:
        assert node.is_running()
        assert db.exists()


def test_a_folder_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the folder should be")
    done = emulator("--db", str(blocker / "events.db"), "--port", "0")
    assert done.returncode == 3, done.stderr
    assert f"cannot create the folder {blocker}" in message(done)


def test_a_busy_port_names_the_port_and_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = emulator("--db", str(tmp_path / "events.db"), "--port", str(port))
    assert done.returncode == 1, done.stderr
    text = message(done)
    assert f"port {port} on 127.0.0.1 is already in use" in text
    assert "--port 0" in text
    assert "RuntimeError" not in done.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_outside_the_tcp_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    done = emulator("--db", str(tmp_path / "events.db"), "--port", port)
    assert done.returncode == 2
    assert "argument --port" in done.stderr
    assert not (tmp_path / "events.db").exists()


def test_a_corrupt_database_is_named_with_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    db.write_bytes(os.urandom(8192))
    done = emulator("--db", str(db), "--port", "0")
    assert done.returncode == 3, done.stderr
    assert f"cannot open {db} as an event log: file is not a database" in message(done)
    assert "Traceback" not in done.stderr

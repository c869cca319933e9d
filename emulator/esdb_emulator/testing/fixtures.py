"""Pytest fixtures: a real server process and real esdbclient clients.

Load them with `pytest_plugins = ["esdb_emulator.testing.fixtures"]` in a root conftest.

`ESDB_URI` points the whole suite at any server (a real EventStoreDB included);
without it, one embedded emulator subprocess serves the session. Tests that kill
or restart a server use the `emulator` fixture, which is skipped against an
external server because we cannot kill that.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient

from esdb_emulator.node.launcher import EmulatorProcess

EXTERNAL_URI = os.environ.get("ESDB_URI")


@pytest.fixture(scope="session")
def esdb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of the server the suite runs against."""
    if EXTERNAL_URI:
        yield EXTERNAL_URI
        return
    db = tmp_path_factory.mktemp("session-emulator") / "events.db"
    with EmulatorProcess(db) as node:
        yield node.uri


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator process of this test's own, on a file database, to kill and restart."""
    if EXTERNAL_URI:
        pytest.skip("needs to kill and restart the server; ESDB_URI points at an external one")
    node = EmulatorProcess(tmp_path / "events.db", log_path=tmp_path / "emulator.log")
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def client(esdb_uri: str) -> Iterator[EventStoreDBClient]:
    """A sync esdbclient connected to the suite's server."""
    es = EventStoreDBClient(esdb_uri)
    try:
        yield es
    finally:
        es.close()


@pytest.fixture
def stream_name() -> str:
    """A stream name no other test uses."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def server_uri(tmp_path: Path) -> Iterator[str]:
    """ESDB_URI when set, else an emulator process of this test's own (a clean log)."""
    if EXTERNAL_URI:
        yield EXTERNAL_URI
        return
    with EmulatorProcess(tmp_path / "events.db", log_path=tmp_path / "emulator.log") as node:
        yield node.uri

"""Fixtures of the read-side scenarios: clients of the test's own emulator process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient

from esdb_emulator.node.launcher import EmulatorProcess
from orders.store import EsdbStore


@pytest.fixture
def es(emulator: EmulatorProcess) -> Iterator[EventStoreDBClient]:
    """A raw esdbclient on the test's own emulator (for groups, reads and the oracle)."""
    client = EventStoreDBClient(emulator.uri)
    yield client
    client.close()


@pytest.fixture
def store(emulator: EmulatorProcess) -> Iterator[EsdbStore]:
    """The write side's store on the test's own emulator (to run orders)."""
    orders = EsdbStore(emulator.uri)
    yield orders
    orders.close()


@pytest.fixture
def server_uri(tmp_path: Path) -> Iterator[str]:
    """ESDB_URI when set, else an emulator of this test's own."""
    external = os.environ.get("ESDB_URI")
    if external:
        yield external
        return
    with EmulatorProcess(tmp_path / "events.db", log_path=tmp_path / "emulator.log") as node:
        yield node.uri

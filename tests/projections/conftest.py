"""Fixtures of the read-side scenarios: clients of the test's own emulator process."""

from __future__ import annotations

from collections.abc import Iterator

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

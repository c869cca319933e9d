"""The ports' fakes and their real adapters, side by side: every contract case runs once
against the in-memory fake and once against the real server (ESDB_URI, else an emulator
process), through the same port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from contract_support import ReadSide

from orders.memory import InMemoryOrderStore
from orders.ports import OrderStore
from orders.store import EsdbStore
from projections import esdb
from projections.memory import MemoryEventStore


@pytest.fixture(params=["memory", "esdb"])
def order_store(request: pytest.FixtureRequest) -> Iterator[OrderStore]:
    """The write side's port: the fake, or EsdbStore on the suite's server."""
    if request.param == "memory":
        yield InMemoryOrderStore()
        return
    with EsdbStore(request.getfixturevalue("esdb_uri")) as store:
        yield store


@pytest.fixture(params=["memory", "esdb"])
def read_side(request: pytest.FixtureRequest) -> Iterator[ReadSide]:
    """The read side's port: the fake over an in-memory log, or the esdbclient adapter on
    a server with a log of its own (its groups see every order stream from the start)."""
    group = f"contract-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        log = InMemoryOrderStore()
        yield ReadSide(log, MemoryEventStore(log).connect, group)
        return
    uri = request.getfixturevalue("server_uri")
    with EsdbStore(uri) as writer:
        yield ReadSide(writer, esdb.connector(uri), group)

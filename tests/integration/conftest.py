"""Fixtures for the write side against a real server (the session's `esdb_uri`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orders import bootstrap
from orders.store import EsdbStore


@pytest.fixture
def store(esdb_uri: str) -> Iterator[EsdbStore]:
    """An EsdbStore on the suite's server, closed after the test."""
    with EsdbStore(esdb_uri) as es:
        yield es


@pytest.fixture
def order_id() -> str:
    """An order id no other test uses."""
    return str(uuid.uuid4())


@pytest.fixture
def default_store_on(esdb_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the command functions' default store at the suite's server via ESDB_URI."""
    monkeypatch.setenv("ESDB_URI", esdb_uri)
    bootstrap.reset()
    try:
        yield esdb_uri
    finally:
        bootstrap.reset()

"""Fixtures of the console tests: the write side's store on the suite's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orders.store import EsdbStore


@pytest.fixture
def store(esdb_uri: str) -> Iterator[EsdbStore]:
    """The write side's store on the suite's server."""
    orders = EsdbStore(esdb_uri)
    yield orders
    orders.close()

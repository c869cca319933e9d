"""Fixtures shared by the emulator's wire-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import grpc
import pytest
from esdbclient.protos.Grpc import streams_pb2_grpc


@pytest.fixture(scope="module")
def stub(esdb_uri: str) -> Iterator[streams_pb2_grpc.StreamsStub]:
    """A raw Streams stub on the suite's server."""
    url = urlparse(esdb_uri)
    channel = grpc.insecure_channel(f"{url.hostname}:{url.port}")
    try:
        yield streams_pb2_grpc.StreamsStub(channel)  # type: ignore[no-untyped-call]
    finally:
        channel.close()

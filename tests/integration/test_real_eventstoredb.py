"""The command tests again, against a real EventStoreDB 24.10 in a container.

Runs only where a Docker engine answers a ping (testcontainers starts the container);
elsewhere every test here is skipped with the reason. The command-test classes are
imported from test_commands and re-collected here, where `esdb_uri` is the container's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from esdbclient import EventStoreDBClient
from esdbclient.exceptions import EventStoreDBClientException
from test_commands import TestIdempotency, TestLifecycle, TestPlaceOrder, TestStoreErrors

IMAGE = "docker.eventstore.com/eventstore/eventstoredb-ee:24.10.1"
READY_TIMEOUT_S = 120.0


def _docker_unavailable() -> str | None:
    """Why no Docker engine can be used here, or None when one answers a ping."""
    try:
        import docker  # noqa: PLC0415  only needed when probing for an engine

        engine = docker.from_env(timeout=3)
        try:
            engine.ping()
        finally:
            engine.close()
    except Exception as e:  # noqa: BLE001  any failure to reach an engine means "skip"
        return f"no Docker engine answers a ping ({type(e).__name__}: {e})"
    return None


_UNAVAILABLE = _docker_unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")


@pytest.fixture(scope="module")
def esdb_uri() -> Iterator[str]:
    """An insecure single-node EventStoreDB 24.10 container, ready for appends."""
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415  see above

    container = (
        DockerContainer(IMAGE)
        .with_env("EVENTSTORE_CLUSTER_SIZE", "1")
        .with_env("EVENTSTORE_RUN_PROJECTIONS", "All")
        .with_env("EVENTSTORE_START_STANDARD_PROJECTIONS", "true")
        .with_env("EVENTSTORE_INSECURE", "true")
        .with_env("EVENTSTORE_MEM_DB", "true")
        .with_exposed_ports(2113)
    )
    with container:
        host = container.get_container_host_ip()
        uri = f"esdb://{host}:{container.get_exposed_port(2113)}?Tls=false"
        _wait_until_ready(uri)
        yield uri


def _wait_until_ready(uri: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with EventStoreDBClient(uri) as client:
                client.get_commit_position(timeout=5)
            return
        except EventStoreDBClientException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


__all__ = ["TestIdempotency", "TestLifecycle", "TestPlaceOrder", "TestStoreErrors"]

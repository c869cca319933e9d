"""`EmulatorServer`: the gRPC server that puts the log and the services on a port."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
import structlog
from esdbclient.protos.Grpc import (
    gossip_pb2_grpc,
    persistent_pb2_grpc,
    streams_pb2_grpc,
)

from esdb_emulator.gossip_service import GossipService
from esdb_emulator.persistent.service import PersistentSubscriptionsService
from esdb_emulator.storage import DEFAULT_MAX_APPEND_SIZE, EventLog
from esdb_emulator.streams_service import StreamsService

_log = structlog.get_logger("esdb_emulator.server")

# Larger than the maximum append size, so an oversized append reaches the handler
# and gets EventStoreDB's own error instead of a transport-level RESOURCE_EXHAUSTED.
_MAX_RECEIVE_MESSAGE_LENGTH = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How to run one emulator node. `db_path=None` keeps everything in memory."""

    db_path: Path | None
    host: str = "127.0.0.1"
    port: int = 2113
    advertise_host: str | None = None
    advertise_port: int | None = None
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_append_size: int = DEFAULT_MAX_APPEND_SIZE


class EmulatorServer:
    """A single-node, insecure EventStoreDB-compatible server on a `grpc.aio` server.

    `start()` opens the log, binds the port (0 picks a free one) and serves;
    `stop()` stops accepting calls, ends open streams, and closes the log.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.log = EventLog(
            config.db_path,
            synchronous=config.synchronous,
            max_append_size=config.max_append_size,
        )
        self._server: grpc.aio.Server | None = None
        self._persistent: PersistentSubscriptionsService | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port; valid once started."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def uri(self) -> str:
        """The esdbclient connection URI of this node."""
        return f"esdb://{self.config.host}:{self.port}?Tls=false"

    async def start(self) -> None:
        """Open the log, start the services and listen; raises OSError if the port is taken."""
        await self.log.start()
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", _MAX_RECEIVE_MESSAGE_LENGTH),
                # Refuse to share a port with another process instead of splitting calls.
                ("grpc.so_reuseport", 0),
            ]
        )
        streams_pb2_grpc.add_StreamsServicer_to_server(  # type: ignore[no-untyped-call]
            StreamsService(self.log, max_append_size=self.config.max_append_size), server
        )
        self._persistent = PersistentSubscriptionsService(self.log)
        await self._persistent.start()
        persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server(  # type: ignore[no-untyped-call]
            self._persistent, server
        )
        port = server.add_insecure_port(f"{self.config.host}:{self.config.port}")
        if port == 0:
            raise OSError(f"cannot bind {self.config.host}:{self.config.port}")
        self._port = port
        gossip = GossipService(
            self.config.advertise_host or self.config.host,
            self.config.advertise_port or port,
        )
        gossip_pb2_grpc.add_GossipServicer_to_server(gossip, server)  # type: ignore[no-untyped-call]
        await server.start()
        self._server = server
        _log.info("emulator.started", uri=self.uri, db=str(self.config.db_path))

    async def stop(self, grace: float = 1.0) -> None:
        """Stop serving (open calls get `grace` seconds), then close the log."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self._persistent is not None:
            await self._persistent.stop()
            self._persistent = None
        await self.log.close()
        _log.info("emulator.stopped")

    async def wait_for_termination(self) -> None:
        """Return when the gRPC server has stopped."""
        if self._server is not None:
            await self._server.wait_for_termination()


class ThreadedEmulator:
    """An `EmulatorServer` running on its own event loop in a background thread.

    For scripts and tests that want the server in-process: `start()` returns once
    it is listening; `uri` is then valid; `stop()` shuts it down.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.server = EmulatorServer(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def uri(self) -> str:
        """The esdbclient connection URI of this node."""
        return self.server.uri

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on (to run coroutines against its log)."""
        return self._loop

    def start(self, timeout: float = 30.0) -> ThreadedEmulator:
        """Start the thread and the server; raises whatever `EmulatorServer.start` raised."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and end the thread."""
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> ThreadedEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""`EmulatorServer`: the gRPC server that puts the log and the services on a port.

Insecure (no TLS, no authentication) by default, and then only on a loopback address:
binding any other address needs TLS or an explicit `insecure=True`, as EventStoreDB
needs `--insecure` to run without TLS at all. With TLS every call passes Basic
authentication (`auth.py`).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import grpc
import structlog
from esdbclient.protos.Grpc import (
    gossip_pb2_grpc,
    persistent_pb2_grpc,
    streams_pb2_grpc,
)

from esdb_emulator.log.event_log import DEFAULT_MAX_APPEND_SIZE, EventLog
from esdb_emulator.node.auth import BasicAuthInterceptor, default_users
from esdb_emulator.node.gossip import GossipService
from esdb_emulator.node.tls import TlsMaterial, TlsSettings, load_tls
from esdb_emulator.persistent.service import PersistentSubscriptionsService
from esdb_emulator.streams.service import StreamsService

_log = structlog.get_logger("esdb_emulator.node.server")

# Larger than the maximum append size, so an oversized append reaches the handler
# and gets EventStoreDB's own error instead of a transport-level RESOURCE_EXHAUSTED.
_MAX_RECEIVE_MESSAGE_LENGTH = 64 * 1024 * 1024


class InsecureBindError(ValueError):
    """Refused: a non-loopback address without TLS and without an explicit `insecure`."""


class PortUnavailable(OSError):
    """The address cannot be bound; the message says why and how to pick another port."""


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How to run one emulator node. `db_path=None` keeps everything in memory.

    `tls` makes the node secure (TLS and Basic authentication of `users`, name to
    password; None means admin and ops with their initial passwords from the
    environment). `insecure=True` allows a non-loopback `host` without TLS.
    """

    db_path: Path | None
    host: str = "127.0.0.1"
    port: int = 2113
    advertise_host: str | None = None
    advertise_port: int | None = None
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_append_size: int = DEFAULT_MAX_APPEND_SIZE
    max_db_bytes: int | None = None
    """Fail writes that would grow the database past this size, as a full disk does
    (a fault-injection aid; None: no cap)."""
    tls: TlsSettings | None = None
    insecure: bool = False
    users: Mapping[str, str] | None = None


class EmulatorServer:
    """A single-node EventStoreDB-compatible server on a `grpc.aio` server.

    `start()` checks the bind policy and the certificates, opens the log, binds
    the port (0 picks a free one) and serves; `stop()` stops accepting calls, ends
    open streams, and closes the log.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.log = EventLog(
            config.db_path,
            synchronous=config.synchronous,
            max_append_size=config.max_append_size,
            max_db_bytes=config.max_db_bytes,
        )
        self._server: grpc.aio.Server | None = None
        self._persistent: PersistentSubscriptionsService | None = None
        self._port: int | None = None
        self._tls: TlsMaterial | None = None
        self._users = dict(config.users if config.users is not None else default_users(os.environ))

    @property
    def secure(self) -> bool:
        """True when the node serves TLS and authenticates calls."""
        return self.config.tls is not None

    @property
    def ca_file(self) -> Path | None:
        """The certificate file clients can trust (the dev certificate); valid once started."""
        return self._tls.ca_file if self._tls is not None else None

    @property
    def port(self) -> int:
        """The bound port; valid once started."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def uri(self) -> str:
        """The connection URI without credentials: safe to print and log.

        A secure node's URI carries `tlsCaFile` when the node knows the CA (dev
        mode); esdbclient also needs `user:password@`, see `client_uri`.
        """
        return node_uri(self.config.host, self.port, secure=self.secure, ca_file=self.ca_file)

    def client_uri(self, user: str = "admin") -> str:
        """A URI esdbclient can use as it is: `uri`, with `user`'s credentials if secure."""
        if not self.secure:
            return self.uri
        if user not in self._users:
            raise KeyError(f"no user {user!r} on this node")
        return node_uri(
            self.config.host,
            self.port,
            secure=True,
            ca_file=self.ca_file,
            credentials=(user, self._users[user]),
        )

    async def start(self) -> None:
        """Check the bind policy and certificates, open the log, start the services, listen.

        Raises InsecureBindError or TlsConfigError (both ValueError) before anything
        is opened; DatabaseInUse / DatabaseUnusable (`db_lock`) if the log cannot be
        opened; PortUnavailable (an OSError) if the port cannot be bound, having closed
        the log again.
        """
        check_bind_policy(self.config)
        if self.config.tls is not None:
            self._tls = load_tls(self.config.tls)
        await self.log.start()
        try:
            await self._serve()
        except BaseException:
            await self.stop(grace=0)
            raise

    async def _serve(self) -> None:
        interceptors = [BasicAuthInterceptor(self._users)] if self.secure else []
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", _MAX_RECEIVE_MESSAGE_LENGTH),
                # Refuse to share a port with another process instead of splitting calls.
                ("grpc.so_reuseport", 0),
                # Accept clients' keepalive pings (the server's own KeepAliveInterval is
                # 10 s): gRPC's default answers pings more often than every 5 min with
                # GOAWAY "too_many_pings", which would drop every subscription.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
                ("grpc.http2.max_ping_strikes", 0),
            ],
        )
        streams_pb2_grpc.add_StreamsServicer_to_server(  # type: ignore[no-untyped-call]
            StreamsService(self.log, max_append_size=self.config.max_append_size), server
        )
        self._persistent = PersistentSubscriptionsService(self.log)
        await self._persistent.start()
        persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server(  # type: ignore[no-untyped-call]
            self._persistent, server
        )
        address = f"{self.config.host}:{self.config.port}"
        try:
            if self._tls is not None:
                port = server.add_secure_port(address, self._tls.server_credentials())
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:  # grpc's "Failed to bind": find out why with a plain socket
            port = 0
        if port == 0:
            raise PortUnavailable(bind_failure(self.config.host, self.config.port))
        self._port = port
        gossip = GossipService(
            self.config.advertise_host or self.config.host,
            self.config.advertise_port or port,
        )
        gossip_pb2_grpc.add_GossipServicer_to_server(gossip, server)  # type: ignore[no-untyped-call]
        await server.start()
        self._server = server
        _log.info("emulator.started", uri=self.uri, secure=self.secure, db=str(self.config.db_path))

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


def check_bind_policy(config: EmulatorConfig) -> None:
    """Raise InsecureBindError for a non-loopback host without TLS or `insecure`."""
    if config.tls is not None or config.insecure or is_loopback(config.host):
        return
    raise InsecureBindError(
        f"refusing to bind {config.host}:{config.port} without TLS: a non-loopback address "
        "would serve the event store unencrypted and without authentication. Either enable "
        "TLS (--tls-cert PATH --tls-key PATH, or --dev for a self-signed development "
        "certificate) or pass --insecure to accept an unencrypted, unauthenticated server."
    )


def bind_failure(host: str, port: int) -> str:
    """Why `host`:`port` cannot be bound, and what to do instead."""
    reason = "cannot be bound"
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.bind(infos[0][4])
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            reason = "is already in use (another esdb-emulator or EventStoreDB?)"
        elif error.strerror:
            reason = f"cannot be bound: {error.strerror}"
    return (
        f"port {port} on {host} {reason}. Stop what listens there, or pick another port:"
        " --port N, or --port 0 for any free port (the ready line says which)."
    )


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals; names are not resolved."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def client_host(host: str) -> str:
    """The host a local client dials: the bound one, or loopback for a wildcard bind."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host  # noqa: S104


def node_uri(
    host: str,
    port: int,
    *,
    secure: bool,
    ca_file: Path | None,
    credentials: tuple[str, str] | None = None,
) -> str:
    """The esdbclient URI of a node bound to `host`:`port`: `Tls=false` when insecure;
    otherwise TLS, with `tlsCaFile` when the CA is known and `user:password@` when
    `credentials` are given."""
    where = f"{client_host(host)}:{port}"
    if not secure:
        return f"esdb://{where}?Tls=false"
    user = "" if credentials is None else f"{credentials[0]}:{credentials[1]}@"
    uri = f"esdb://{user}{where}?Tls=true"
    if ca_file is not None:
        uri += f"&tlsCaFile={quote(str(ca_file), safe='/')}"
    return uri


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
        """A URI esdbclient can use as it is (with admin's credentials if secure)."""
        return self.server.client_uri()

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

"""A loopback TCP proxy that cuts connections for real, for the network-fault tests (F4)
and the soak run.

`CutProxy(host, port)` listens on 127.0.0.1 (a free port) and forwards every connection to
the server. The test points its client at `proxy.uri(server_uri)` and injects:

- `arm(direction, k)`: the next time `k` more bytes have passed in `direction` ("down":
  server to client, "up": client to server) the proxy forwards exactly those `k` bytes and
  resets both sides of that connection (RST, as a dropped link looks to the peers). With
  `k` small and "down", a request that reached the server loses its reply.
- `stall(seconds)`: holds server-to-client bytes that long (a reply later than a deadline),
  then forwards them.
- `cut_all()`: resets every open connection now.

The asyncio loop runs in a daemon thread; every method is thread-safe. `cuts` counts the
connections actually reset. The proxy never listens on anything but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Direction = Literal["up", "down"]
_CHUNK = 64 * 1024


class _Pair:
    """One proxied connection: the client side and the server side."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client, self.server = client, server
        self.closed = False

    def reset(self) -> None:
        """Close both sockets with RST (SO_LINGER 0), as a broken link does."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.server):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class CutProxy:
    """See the module docstring. Use as a context manager, or `start()` / `close()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._armed: tuple[Direction, int] | None = None
        self._stall_until = 0.0
        self._pairs: set[_Pair] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @classmethod
    def for_uri(cls, uri: str) -> CutProxy:
        """A proxy in front of the server an `esdb://host:port` URI names."""
        parts = urlsplit(uri)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"the URI names no host:port: {uri!r}")
        return cls(parts.hostname, parts.port)

    def start(self) -> CutProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    def close(self) -> None:
        """Stop listening, reset every connection, stop the loop thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> CutProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def uri(self, server_uri: str) -> str:
        """`server_uri` with its host:port replaced by the proxy's (credentials, query kept)."""
        parts = urlsplit(server_uri)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (f"{userinfo}@" if userinfo else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def arm(self, direction: Direction, after_bytes: int) -> None:
        """Reset the connection carrying the `after_bytes`-th next byte in `direction`."""
        if after_bytes < 0:
            raise ValueError(f"after_bytes must not be negative, not {after_bytes}")
        with self._lock:
            self._armed = (direction, after_bytes)

    def disarm(self) -> bool:
        """Cancel a pending `arm`; True if it had not fired."""
        with self._lock:
            pending, self._armed = self._armed is not None, None
        return pending

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._armed is not None

    def stall(self, seconds: float) -> None:
        """Hold server-to-client bytes for `seconds` from now."""
        with self._lock:
            self._stall_until = time.monotonic() + seconds

    def cut_all(self) -> int:
        """Reset every open connection; how many there were."""
        future = asyncio.run_coroutine_threadsafe(self._cut_all(), self._loop)
        return future.result(10)

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _cut_all(self) -> int:
        pairs = [pair for pair in self._pairs if not pair.closed]
        for pair in pairs:
            pair.reset()
        with self._lock:
            self.cuts += len(pairs)
        return len(pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:  # the server is down: the client sees a refused/reset connection
            writer.transport.abort()
            return
        for w in (writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        with self._lock:
            self.connections += 1
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, "up", pair),
                self._pump(up_reader, writer, "down", pair),
            )
        finally:
            self._pairs.discard(pair)
            pair.reset()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Direction,
        pair: _Pair,
    ) -> None:
        try:
            while not pair.closed:
                chunk = await source.read(_CHUNK)
                if not chunk:
                    break
                if direction == "down":
                    await self._wait_stall()
                chunk, cut = self._budget(direction, chunk)
                if chunk:
                    sink.write(chunk)
                    await sink.drain()
                if cut:
                    with self._lock:
                        self.cuts += 1
                    break
        except (ConnectionError, OSError):
            pass
        pair.reset()

    def _budget(self, direction: Direction, chunk: bytes) -> tuple[bytes, bool]:
        """What of `chunk` to forward, and whether to reset the connection after it."""
        with self._lock:
            if self._armed is None or self._armed[0] != direction:
                return chunk, False
            remaining = self._armed[1]
            if len(chunk) <= remaining:
                self._armed = (direction, remaining - len(chunk))
                return chunk, False
            self._armed = None
            return chunk[:remaining], True

    async def _wait_stall(self) -> None:
        while True:
            with self._lock:
                left = self._stall_until - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)

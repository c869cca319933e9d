"""The event loop's side of the event log's writer process.

Callers on the loop `submit` requests; the requests submitted in one turn of the
loop go to the writer process (`writer_process`) in one message, and each
caller's future is resolved when the writer reports the transaction that wrote
(or refused) its request. The writer group-commits whatever has arrived, so
concurrent appenders share fsyncs. If the writer process ends unexpectedly, every
waiting caller gets StorageFailure and the log refuses further writes.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from esdb_emulator.log_ipc import STOP, FrameBuffer, encode_op, frame
from esdb_emulator.log_schema import Synchronous
from esdb_emulator.log_transaction import Op
from esdb_emulator.records import (
    AppendResult,
    DeleteResult,
    StorageError,
    StorageFailure,
)

_log = structlog.get_logger("esdb_emulator.log_writer")

Outcome = AppendResult | DeleteResult
#: Socket buffers between loop and writer: a burst of appends is handed over
#: without the loop ever blocking on a full socket.
_SOCKET_BUFFER = 8 * 1024 * 1024
#: How long `stop` waits for the writer to write what was sent and exit.
_STOP_TIMEOUT = 60.0
_PAGE_SIZE = 8192


class LogWriter:
    """Starts and talks to the writer process. `on_commit(position)` runs on the
    loop after every commit, before the transaction's futures are resolved.
    `max_db_bytes` caps the database file (writes beyond it fail with
    StorageFailure, as on a full disk); None for no cap."""

    def __init__(
        self,
        db_file: Path,
        synchronous: Synchronous,
        on_commit: Callable[[int], None],
        *,
        max_db_bytes: int | None = None,
    ) -> None:
        self.commit_count = 0
        self._db_file = db_file
        self._synchronous = synchronous
        self._on_commit = on_commit
        self._max_pages = 0 if max_db_bytes is None else max(1, max_db_bytes // _PAGE_SIZE)
        self._job_ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._outbox: list[tuple[int, Any]] = []
        self._flush_scheduled = False
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._ready: asyncio.Future[int] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False

    async def start(self) -> int:
        """Start the writer process, which opens the database (schema, seeding,
        this start's epoch); returns the last commit position."""
        loop = self._loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        fd = theirs.fileno()
        command = [
            sys.executable, "-m", "esdb_emulator.writer_process",
            str(fd), str(self._db_file), self._synchronous, str(self._max_pages),
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(
                command, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._ready = loop.create_future()
        self._lost = loop.create_future()
        transport, _ = await loop.create_unix_connection(lambda: _Link(self), sock=ours)
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        try:
            position = await self._ready
        except BaseException:
            await self._end_process()
            raise
        self._open = True
        return position

    def submit(self, op: Op) -> asyncio.Future[Outcome]:
        """Queue `op`; the future resolves once it is durable (or failed)."""
        if not self._open:
            raise StorageError("the event log is not open")
        assert self._loop is not None
        future: asyncio.Future[Outcome] = self._loop.create_future()
        job_id = next(self._job_ids)
        self._pending[job_id] = future
        self._outbox.append((job_id, encode_op(op)))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    async def stop(self) -> None:
        """Have everything submitted so far written, then end the writer process."""
        if self._process is None:
            return
        if self._open:
            self._open = False
            self._flush()
            assert self._transport is not None
            self._transport.write(frame(STOP))
        await self._end_process()

    # -- internals ---------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outbox and self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame(self._outbox))
        self._outbox = []

    async def _end_process(self) -> None:
        process, self._process = self._process, None
        assert process is not None
        assert self._lost is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), _STOP_TIMEOUT)
        except TimeoutError:
            _log.error("log.writer_stop_timeout", pid=process.pid)
            process.kill()
        await asyncio.to_thread(process.wait)
        if self._transport is not None:
            self._transport.close()
        self._fail_pending("the event log writer has stopped")

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":
            _, results, position = message
            if position is not None:
                self.commit_count += 1
                self._on_commit(position)
            pending = self._pending
            for job_id, outcome in results:
                future = pending.pop(job_id, None)
                if future is None or future.done():  # the caller gave up waiting
                    continue
                if isinstance(outcome, StorageError):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        elif kind == "log":
            _, level, event, fields = message
            getattr(_log, level)(event, **fields)
        elif kind == "ready":
            _, position, facts = message
            _log.info("log.opened", db=str(self._db_file), **facts)
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(position)
        elif kind == "failed" and self._ready is not None and not self._ready.done():
            self._ready.set_exception(StorageFailure(f"cannot open the log: {message[1]}"))

    def _on_lost(self) -> None:
        if self._open:
            _log.error("log.writer_exited", db=str(self._db_file))
        self._open = False
        failure = StorageFailure("the event log writer process ended")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(failure)
        self._fail_pending(failure.detail)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _fail_pending(self, detail: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(StorageFailure(detail))


class _Link(asyncio.BufferedProtocol):
    """Reads the writer's messages as they arrive (into one reusable buffer) and hands
    them to the writer proxy."""

    def __init__(self, owner: LogWriter) -> None:
        self._owner = owner
        self._frames = FrameBuffer()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._frames.space()

    def buffer_updated(self, nbytes: int) -> None:
        for message in self._frames.filled(nbytes):
            self._owner._on_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._on_lost()

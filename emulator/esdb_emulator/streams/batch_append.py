"""One `BatchAppend` call: requests joined per correlation id, one reply each.

As on the server (`Streams.BatchAppend.cs`): the options on a correlation id's
first request open a batch; its proposed messages may span several requests until
`is_final`; a batch over the maximum append size is refused with
`MaximumAppendSizeExceeded`; a zero or negative deadline is answered `Timeout`, and
so is a batch not finished within min(deadline, the 2 s write timeout). Finished
batches commit concurrently and their replies are written as they complete.
Unlike the server, a malformed request also discards its batch, so nothing is
half-written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from esdbclient.protos.Grpc import shared_pb2, status_pb2, streams_pb2

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import ExpectedRevision, ProposedEvent, StorageError
from esdb_emulator.streams import wire

_log = structlog.get_logger("esdb_emulator.streams.batch_append")

#: The server's write timeout: a multi-request batch must complete within it.
_WRITE_TIMEOUT_SECONDS = 2.0


@dataclass
class _PendingBatch:
    """Events gathered for one correlation id until its final request."""

    stream: str
    expected: ExpectedRevision
    expires: asyncio.TimerHandle | None = None
    events: list[ProposedEvent] = field(default_factory=list)
    size: int = 0


class BatchAppendCall:
    """One BatchAppend call: reads requests, commits finished batches concurrently,
    and writes one reply per correlation id (serialising writes to the call)."""

    def __init__(
        self, log: EventLog, max_append_size: int, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self._log = log
        self._max_append_size = max_append_size
        self._context = context
        self._pending: dict[str, _PendingBatch] = {}
        self._finished: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()

    async def run(self, requests: AsyncIterator[streams_pb2.BatchAppendReq]) -> None:
        """Serve the call until the client stops sending and every commit is answered.
        Batches still incomplete when the client stops sending are dropped."""
        try:
            async for request in requests:
                await self._on_request(request)
            self._cancel_timers()
            while self._tasks:
                await asyncio.gather(*list(self._tasks))
        finally:
            self._cancel_timers()
            for task in self._tasks:
                task.cancel()

    def _cancel_timers(self) -> None:
        for batch in self._pending.values():
            if batch.expires is not None:
                batch.expires.cancel()

    async def _on_request(self, request: streams_pb2.BatchAppendReq) -> None:
        cid = request.correlation_id
        identifier = request.options.stream_identifier
        try:
            key = wire.event_id(cid)
        except wire.WireError as failure:
            await self._reply(cid, identifier, _bad_request(failure))
            return
        try:
            batch = await self._batch_for(key, request)
            if batch is None:
                return
            identifier = wire.stream_identifier(batch.stream)
            events = wire.proposed_events(request.proposed_messages)
            batch.size += sum(map(wire.size_on_disk, events))
            batch.events += events
        except wire.WireError as failure:
            self._forget(key)
            await self._reply(cid, identifier, _bad_request(failure))
            return
        if batch.size > self._max_append_size:
            self._forget(key)
            await self._reply(cid, identifier, wire.batch_max_append_size(self._max_append_size))
        elif request.is_final:
            self._forget(key)
            self._spawn(self._commit(cid, batch))

    async def _batch_for(
        self, key: str, request: streams_pb2.BatchAppendReq
    ) -> _PendingBatch | None:
        """The pending batch of `key`, opened by this request's options if needed;
        None if there is nothing more to do for this request (its batch already
        ended, or its deadline has passed and the Timeout reply is sent)."""
        if key in self._pending:
            return self._pending[key]
        if not request.HasField("options"):
            if key in self._finished:
                return None
            raise wire.handler_exception(
                "ArgumentException", f"no options were sent for correlation id {key}"
            )
        options = request.options
        if not options.HasField("stream_identifier"):
            raise wire.handler_exception(
                "ArgumentException", "Required field StreamIdentifier not set."
            )
        stream = wire.stream_name(options.stream_identifier)
        batch = _PendingBatch(stream, wire.batch_expected_revision(options))
        timeout = min(_requested_timeout(options), _WRITE_TIMEOUT_SECONDS)
        if timeout <= 0:
            self._finished.add(key)
            await self._reply(
                request.correlation_id, options.stream_identifier, wire.batch_timeout()
            )
            return None
        loop = asyncio.get_running_loop()
        batch.expires = loop.call_later(timeout, self._expire, key, request.correlation_id)
        self._pending[key] = batch
        return batch

    def _forget(self, key: str) -> None:
        batch = self._pending.pop(key, None)
        if batch is not None and batch.expires is not None:
            batch.expires.cancel()
        self._finished.add(key)

    def _expire(self, key: str, cid: shared_pb2.UUID) -> None:
        batch = self._pending.get(key)
        if batch is not None:
            self._forget(key)
            self._spawn(
                self._reply(cid, wire.stream_identifier(batch.stream), wire.batch_timeout())
            )

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _commit(self, cid: shared_pb2.UUID, batch: _PendingBatch) -> None:
        bound = _log.bind(stream=batch.stream, expected=batch.expected, events=len(batch.events))
        identifier = wire.stream_identifier(batch.stream)
        try:
            result = await self._log.append(batch.stream, batch.expected, batch.events)
        except StorageError as error:
            bound.debug("batch_append.rejected", error=type(error).__name__)
            await self._reply(cid, identifier, wire.batch_append_error(error, batch.stream))
            return
        bound.debug("batch_append.ok", revision=result.current_revision, position=result.position)
        response = streams_pb2.BatchAppendResp(
            correlation_id=cid,
            stream_identifier=identifier,
            success=wire.batch_append_success(result),
        )
        await self._write(response)

    async def _reply(
        self,
        cid: shared_pb2.UUID,
        identifier: shared_pb2.StreamIdentifier,
        error: status_pb2.Status,
    ) -> None:
        response = streams_pb2.BatchAppendResp(
            correlation_id=cid, stream_identifier=identifier, error=error
        )
        await self._write(response)

    async def _write(self, response: streams_pb2.BatchAppendResp) -> None:
        async with self._write_lock:
            await self._context.write(response)


def _bad_request(failure: wire.WireError) -> status_pb2.Status:
    """The BatchAppend reply for a request the server cannot use."""
    return wire.batch_bad_request(failure.details.removeprefix("Exception was thrown by handler. "))


def _requested_timeout(options: streams_pb2.BatchAppendReq.Options) -> float:
    """Seconds the client gave the batch (`deadline`, or the 21.10 absolute deadline)."""
    which = options.WhichOneof("deadline_option")
    if which == "deadline":
        return options.deadline.seconds + options.deadline.nanos / 1e9
    if which == "deadline_21_10_0":
        return options.deadline_21_10_0.seconds - time.time()
    return float("inf")

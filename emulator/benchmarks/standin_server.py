"""A stand-in `Streams` server that stores nothing: the floor for `emulator/benchmarks/emulator.py`.

It is a `grpc.aio` server built on esdbclient's own generated servicer, like the
emulator, but does no work of its own:

- `Append` and `BatchAppend` consume the request and answer success, with the
  revision implied by the expected revision and a global position that grows by
  a fixed step per event;
- `Read` streams a list of `ReadResp` messages built once at start-up (events
  shaped like the emulator's, with the benchmark payload), up to the request's count;
  a catch-up subscription gets the confirmation, then all of them, then waits;
- `PersistentSubscriptions`: Create and Delete succeed; `Read` confirms, then
  streams prebuilt events, never more unacknowledged than the consumer's
  `buffer_size` (acks only count: nothing is tracked or redelivered).

So esdbclient against this server costs what the client, gRPC and the transport
cost; the emulator's figure divided by this one shows what its own work costs.

Run it as `python emulator/benchmarks/standin_server.py --port 0 --read-events 20000`; it
prints `standin ready: 127.0.0.1:<port>` once listening and stops on SIGTERM.
`StandinProcess` does that from Python.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from _common import EVENT_METADATA, EVENT_TYPE, event_data
from esdbclient.protos.Grpc import (
    persistent_pb2,
    persistent_pb2_grpc,
    shared_pb2,
    streams_pb2,
    streams_pb2_grpc,
)

READY_PREFIX = "standin ready:"
POSITION_STEP = 400  # bytes-like gaps between positions, as a real log has
READ_STREAM_NAME = "bench-read"


class StandinStreams(streams_pb2_grpc.StreamsServicer):
    """Answers appends with success and reads with prebuilt events; keeps no state
    except a position counter."""

    def __init__(self, read_events: int) -> None:
        self._positions = itertools.count(POSITION_STEP, POSITION_STEP)
        self._read_resps = [_read_resp(i) for i in range(read_events)]

    async def Append(  # noqa: N802
        self, request_iterator: AsyncIterator[streams_pb2.AppendReq], context: Any
    ) -> streams_pb2.AppendResp:
        """Success for whatever was proposed."""
        options: streams_pb2.AppendReq.Options | None = None
        count = 0
        async for request in request_iterator:
            if request.HasField("options"):
                options = request.options
            else:
                count += 1
        revision = _next_revision(options, count)
        position = self._advance(count)
        return streams_pb2.AppendResp(
            success=streams_pb2.AppendResp.Success(
                current_revision=revision,
                position=streams_pb2.AppendResp.Position(
                    commit_position=position, prepare_position=position
                ),
            )
        )

    async def BatchAppend(  # noqa: N802
        self, request_iterator: AsyncIterator[streams_pb2.BatchAppendReq], context: Any
    ) -> AsyncIterator[streams_pb2.BatchAppendResp]:
        """One success per final request, echoing its correlation id and stream."""
        async for request in request_iterator:
            if not request.is_final:
                continue
            count = len(request.proposed_messages)
            options = request.options
            base = options.stream_position if options.HasField("stream_position") else -1
            position = self._advance(count)
            yield streams_pb2.BatchAppendResp(
                correlation_id=request.correlation_id,
                stream_identifier=options.stream_identifier,
                success=streams_pb2.BatchAppendResp.Success(
                    current_revision=base + count,
                    position=shared_pb2.AllStreamPosition(
                        commit_position=position, prepare_position=position
                    ),
                ),
            )

    async def Read(  # noqa: N802
        self, request: streams_pb2.ReadReq, context: Any
    ) -> AsyncIterator[streams_pb2.ReadResp]:
        """The prebuilt events, at most `count` of them (stream or `$all` alike); for a
        subscription, a confirmation, every prebuilt event, then nothing until cancelled."""
        if request.options.HasField("subscription"):
            yield streams_pb2.ReadResp(
                confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id="s")
            )
            for resp in self._read_resps:
                yield resp
            await asyncio.Event().wait()
        count = request.options.count if request.options.HasField("count") else 0
        for resp in itertools.islice(self._read_resps, count):
            yield resp

    def _advance(self, count: int) -> int:
        position = 0
        for _ in range(max(count, 1)):
            position = next(self._positions)
        return position


class StandinPersistent(persistent_pb2_grpc.PersistentSubscriptionsServicer):
    """Groups that exist when asked to; consumers get prebuilt events within their
    in-flight limit (`buffer_size`), credited back by acks (or nacks)."""

    def __init__(self, read_events: int) -> None:
        self._events = [_persistent_resp(i) for i in range(read_events)]

    async def Create(  # noqa: N802
        self, request: persistent_pb2.CreateReq, context: Any
    ) -> persistent_pb2.CreateResp:
        """Success, storing nothing."""
        return persistent_pb2.CreateResp()

    async def Delete(  # noqa: N802
        self, request: persistent_pb2.DeleteReq, context: Any
    ) -> persistent_pb2.DeleteResp:
        """Success, storing nothing."""
        return persistent_pb2.DeleteResp()

    async def Read(  # noqa: N802
        self, request_iterator: AsyncIterator[persistent_pb2.ReadReq], context: Any
    ) -> None:
        """Confirmation, then the prebuilt events, at most `buffer_size` unacked."""
        first = await anext(aiter(request_iterator))
        options = first.options
        source = options.stream_identifier.stream_name.decode() or "$all"
        credit = options.buffer_size
        more = asyncio.Event()

        async def count_acks() -> None:
            nonlocal credit
            async for request in request_iterator:
                settled = request.ack.ids if request.HasField("ack") else request.nack.ids
                credit += len(settled)
                more.set()

        counting = asyncio.create_task(count_acks())
        try:
            confirmation = persistent_pb2.ReadResp.SubscriptionConfirmation(
                subscription_id=f"{source}::{options.group_name}"
            )
            await context.write(persistent_pb2.ReadResp(subscription_confirmation=confirmation))
            for resp in self._events:
                while credit <= 0:
                    more.clear()
                    await more.wait()
                credit -= 1
                await context.write(resp)
            await asyncio.Event().wait()
        finally:
            counting.cancel()


def _next_revision(options: streams_pb2.AppendReq.Options | None, count: int) -> int:
    if options is not None and options.HasField("revision"):
        return options.revision + count
    return count - 1


def _read_resp(i: int) -> streams_pb2.ReadResp:
    position = (i + 1) * POSITION_STEP
    created = str(time.time_ns() // 100)
    recorded = streams_pb2.ReadResp.ReadEvent.RecordedEvent(
        id=shared_pb2.UUID(string=str(uuid.uuid4())),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=READ_STREAM_NAME.encode()),
        stream_revision=i,
        prepare_position=position,
        commit_position=position,
        metadata={"type": EVENT_TYPE, "content-type": "application/json", "created": created},
        custom_metadata=EVENT_METADATA,
        data=event_data(i),
    )
    return streams_pb2.ReadResp(
        event=streams_pb2.ReadResp.ReadEvent(event=recorded, commit_position=position)
    )


def _persistent_resp(i: int) -> persistent_pb2.ReadResp:
    position = (i + 1) * POSITION_STEP
    created = str(time.time_ns() // 100)
    response = persistent_pb2.ReadResp()
    message = response.event
    recorded = message.event
    recorded.id.string = str(uuid.uuid4())
    recorded.stream_identifier.stream_name = READ_STREAM_NAME.encode()
    recorded.stream_revision = i
    recorded.prepare_position = recorded.commit_position = position
    recorded.metadata.update(
        {"type": EVENT_TYPE, "content-type": "application/json", "created": created}
    )
    recorded.custom_metadata = EVENT_METADATA
    recorded.data = event_data(i)
    message.commit_position = position
    message.retry_count = 0
    return response


async def serve(host: str, port: int, read_events: int) -> None:
    """Listen on host:port until SIGTERM or SIGINT, printing the ready line first."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    streams_pb2_grpc.add_StreamsServicer_to_server(  # type: ignore[no-untyped-call]
        StandinStreams(read_events), server
    )
    persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server(  # type: ignore[no-untyped-call]
        StandinPersistent(read_events), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"{READY_PREFIX} {host}:{bound}", flush=True)
    await stopping.wait()
    await server.stop(0.5)


class StandinProcess:
    """The stand-in server in a child process on a free 127.0.0.1 port."""

    def __init__(self, read_events: int) -> None:
        self.read_events = read_events
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        """The esdbclient connection URI (valid once started)."""
        return f"esdb://127.0.0.1:{self.port}?Tls=false"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> StandinProcess:
        """Start the child; returns once it is listening, else raises RuntimeError."""
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0"]
        command += ["--read-events", str(self.read_events)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        line = _read_line(self._process, time.monotonic() + timeout)
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"stand-in server not ready within {timeout}s: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> StandinProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(max(0.0, deadline - time.monotonic())):
            return ""
    return process.stdout.readline().strip()


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--read-events", type=int, default=20_000, help="events per Read reply")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    args = _args(argv)
    asyncio.run(serve("127.0.0.1", args.port, args.read_events))


if __name__ == "__main__":
    main()

"""One persistent-subscription group at work, with EventStoreDB 24.10's semantics.

Messages wait in three queues, pushed in this order whenever a consumer has room:
retries (by source position), replayed parked events, then events read from the
source. A pushed message is outstanding until acked or nacked, or until its
`message_timeout` passes on a clock tick; a retried message comes back with
`retry_count + 1`, and one that already had `max_retry_count` retries is parked
instead. A consumer that leaves has its in-flight messages retried.

One asyncio task per group reads the source; everything else runs synchronously
in the gRPC handlers and the service's clock tick, all on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal

import structlog
from esdbclient.protos.Grpc import persistent_pb2

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import StorageError
from esdb_emulator.persistent.model import Consumer, Deadlines, Message
from esdb_emulator.persistent.progress import CheckpointCadence, Progress
from esdb_emulator.persistent.settings import GroupSettings, StartFrom
from esdb_emulator.persistent.source import Record, SourceDeletedError, SourceReader
from esdb_emulator.persistent.strategies import PushResult, make_strategy
from esdb_emulator.persistent.streams import GroupStreams, Parking

Nack = persistent_pb2.ReadReq.Nack
_LINK_TO = "$>"

_log = structlog.get_logger("esdb_emulator.persistent.engine")


class Group:
    """The live state of one group: its queues, consumers and checkpoints.

    Build it, `load()` its checkpoint and parked count, `start()` its reader, and
    `close()` it when the group is updated, deleted or the server stops.
    """

    def __init__(self, settings: GroupSettings, log: EventLog) -> None:
        self.settings = settings
        self._log = log
        self._bound = _log.bind(group=settings.key)
        self._streams = GroupStreams(log, settings.key)
        self._strategy = make_strategy(settings.consumer_strategy)
        self._reader = SourceReader(log, settings, settings.first_position)
        self._progress = Progress(_cadence(settings), None)
        self._consumers: dict[str, Consumer] = {}
        self._retry: deque[Message] = deque()
        self._replay: deque[Message] = deque()
        self._buffer: deque[Message] = deque()
        self._outstanding: dict[str, Message] = {}
        self._deadlines = Deadlines()
        self._parking: list[tuple[Message, str]] = []
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._commit_wait: asyncio.Future[None] | None = None
        self._faulted = False
        self._closed = False
        self._replaying = False
        self.total_items = 0
        self.last_known: int | None = None
        self.last_checkpoint: str | None = None
        self.parked_count = 0
        self._measured_at = time.monotonic()
        self._items_at_measurement = 0

    # -- life cycle ---------------------------------------------------------

    def load(self) -> None:
        """Resume after the stored checkpoint, if any, and count the parked events."""
        loaded = self._load_checkpoint()
        if loaded is not None:
            checkpoint, position = loaded
            self._reader.next_position = position + 1
            self._progress = Progress(_cadence(self.settings), position)
            self.last_checkpoint = checkpoint
            self.last_known = position
        self.parked_count = self._streams.parked_count()

    def start(self) -> None:
        """Start reading the source (call on the event loop)."""
        self._tasks["reader"] = asyncio.create_task(self._run(), name=f"group {self.settings.key}")

    async def close(self, why: Literal["stop", "update", "delete"] = "stop") -> list[Message]:
        """Drop every consumer, stop reading, and finish pending parks and checkpoints.

        On a stop or an update nothing is lost or redone by the group that comes next: a
        final checkpoint records everything finished since the last one, and replayed
        parked events not yet acked (the parked stream no longer holds them) are parked
        again on a stop, or returned on an update for the new group to `resume_replays`.
        A deleted group keeps nothing.
        """
        self._closed = True
        self._drop_consumers()
        reader = self._tasks.pop("reader", None)
        for task in (reader, self._commit_wait):
            if task is not None:
                task.cancel()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        replays, self._replay = list(self._replay), deque()
        if why == "stop":
            for message in replays:
                self._park(message, "Replay interrupted: the subscription was closed.")
        await self._settle()
        if why != "delete":
            self._checkpoint_now()
            await self._settle()
        return replays if why == "update" else []

    def resume_replays(self, replays: Iterable[Message]) -> None:
        """Queue the replayed parked events a closed group handed over, before new events."""
        for old in replays:
            message = Message(old.resolved, old.ack_id, None, old.retry_count)
            message.unresolved_link = old.unresolved_link
            self._replay.append(message)
        self._dispatch()

    async def _settle(self) -> None:
        while self._tasks:  # parks and checkpoints remove themselves when done
            await asyncio.wait(list(self._tasks.values()))

    async def delete_streams(self) -> None:
        """Delete the checkpoint and parked streams (the group is being deleted)."""
        await self._streams.delete()

    # -- consumers ------------------------------------------------------------

    @property
    def is_full(self) -> bool:
        """True when `max_subscriber_count` (0 = no limit) consumers are connected."""
        limit = self.settings.max_subscriber_count
        return limit != 0 and len(self._consumers) >= limit

    @property
    def consumers(self) -> list[Consumer]:
        """The connected consumers, in the order they joined."""
        return list(self._consumers.values())

    def add_consumer(self, consumer: Consumer) -> None:
        """Connect `consumer`; a closed or faulted group drops it at once."""
        if self._closed or self._faulted:
            consumer.drop()
            return
        self._consumers[consumer.consumer_id] = consumer
        self._strategy.add(consumer)
        self._dispatch()

    def remove_consumer(self, consumer_id: str) -> None:
        """Disconnect a consumer; its in-flight messages are retried (count + 1)."""
        consumer = self._consumers.pop(consumer_id, None)
        if consumer is None:
            return
        self._strategy.remove(consumer)
        lost = sorted(consumer.in_flight.values(), key=_retry_order)
        consumer.in_flight.clear()
        for message in lost:
            self._outstanding.pop(message.ack_id, None)
            self._retry_message(message)
        self._after_change(checkpoint=False)

    # -- acks, nacks and the clock -------------------------------------------

    def ack(self, ack_ids: Iterable[str]) -> None:
        """Acknowledge messages; ids that are not outstanding are ignored."""
        if self._closed:
            return
        # The hottest loop of all (one pass per acked event): kept flat on purpose.
        outstanding, consumers = self._outstanding, self._consumers
        confirmed, finish = self._strategy.confirmed, self._progress.finish
        for ack_id in ack_ids:
            message = outstanding.pop(ack_id, None)
            if message is None:
                continue
            consumer = consumers.get(message.consumer_id or "")
            if consumer is not None and consumer.in_flight.pop(ack_id, None) is not None:
                confirmed(consumer, message)
            if message.position is not None:
                finish(message)
        self._after_change()

    def nack(self, action: int, ack_ids: Iterable[str], reason: str) -> None:
        """Apply a nack `action` to outstanding messages (unknown ids are ignored).

        Retry and Unknown redeliver (or park past `max_retry_count`), Park parks,
        Skip and Stop let the message go as done (the server's Stop does nothing
        more).
        """
        if self._closed:
            return
        for ack_id in ack_ids:
            message = self._take(ack_id)
            if message is None:
                continue
            if action in (Nack.Retry, Nack.Unknown):
                self._retry_or_park(message)
            elif action == Nack.Park:
                self._park(message, "Client explicitly NAK'ed message.\n" + reason)
            else:
                self._finish(message)
        self._after_change()

    def tick(self, now: float) -> None:
        """Time out expired messages, push, and take a timed checkpoint if due."""
        if self._closed:
            return
        expired = self._deadlines.due(now, self._is_outstanding)
        for message in expired:
            self._take(message.ack_id)
            self._retry_or_park(message)
        if expired:
            self._wake.set()
        self._dispatch()
        self._maybe_checkpoint(clock_tick=True)

    async def replay_parked(self, stop_at: int | None) -> None:
        """Redeliver parked events below parked revision `stop_at` (all if None)
        before new events, then truncate the parked stream past them. A replay
        already under way makes this a no-op, as on the server."""
        if self._closed or self._replaying:
            return
        self._replaying = True
        try:
            replayed, before = self._streams.read_parked(stop_at, self._reader.page_size)
            for resolved in replayed:
                self._replay.append(Message(resolved, resolved.original.event_id, None))
            self._dispatch()
            if before > 0:
                await self._streams.truncate_parked(before)
            self.parked_count = self._streams.parked_count()
        finally:
            self._replaying = False

    # -- statistics ----------------------------------------------------------

    @property
    def status(self) -> str:
        """The server's state name: "Live" when caught up with the source, else "Behind"."""
        return "Live" if self._reader.caught_up else "Behind"

    @property
    def counts(self) -> dict[str, int]:
        """Buffer and in-flight counters, named as in `SubscriptionInfo`."""
        return {
            "read_buffer_count": len(self._buffer),
            "retry_buffer_count": len(self._retry) + len(self._replay),
            "live_buffer_count": len(self._buffer) if self._reader.caught_up else 0,
            "total_in_flight_messages": sum(len(c.in_flight) for c in self._consumers.values()),
            "outstanding_messages_count": len(self._outstanding),
        }

    def measure(self) -> tuple[int, int, float]:
        """(items since the last measurement, their rate per second, elapsed seconds)."""
        now = time.monotonic()
        elapsed = now - self._measured_at
        items = self.total_items - self._items_at_measurement
        self._measured_at, self._items_at_measurement = now, self.total_items
        rate = int(items / elapsed) if elapsed > 0 else 0
        return items, rate, elapsed

    def position_text(self, position: int) -> str:
        """A source position as the server writes it (checkpoints, statistics)."""
        return str(StartFrom(self.settings.is_all, position, position))

    # -- reading --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                self._wake.clear()
                if self._wants_page():
                    self._read_page()
                    self._dispatch()
                    await asyncio.sleep(0)
                    continue
                await self._wait_for_work()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a dead reader must drop its consumers, not strand them
            self._bound.exception("persistent_group.reader_failed")
            self._fault()

    def _wants_page(self) -> bool:
        if self._faulted or self._reader.caught_up:
            return False
        buffered = len(self._retry) + len(self._replay) + len(self._buffer)
        return self.settings.history_buffer_size - buffered > self.settings.read_batch_size

    def _read_page(self) -> None:
        try:
            records = self._reader.read_page()
        except SourceDeletedError as error:
            self._bound.error("persistent_group.source_deleted", error=str(error))
            self._fault()
            return
        for record in records:
            self._accept(record)

    def _accept(self, record: Record) -> None:
        if not record.wanted:
            self._progress.pass_over(record.position)
            return
        resolved = record.resolved
        message = Message(resolved, resolved.original.event_id, record.position)
        self._progress.track(message)
        message.unresolved_link = self.settings.resolve_links and (
            resolved.link is None and resolved.event.type == _LINK_TO
        )
        self._buffer.append(message)
        self.last_known = record.position

    async def _wait_for_work(self) -> None:
        woken = asyncio.ensure_future(self._wake.wait())
        waits: list[asyncio.Future[Any]] = [woken]
        if self._reader.caught_up and not self._faulted:
            if self._commit_wait is None:
                wait = self._log.wait_for_commit_after(self._reader.watch_position)
                self._commit_wait = asyncio.ensure_future(wait)
            waits.append(self._commit_wait)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        if self._commit_wait is not None and self._commit_wait.done():
            self._commit_wait = None
            self._reader.caught_up = False

    def _fault(self) -> None:
        self._faulted = True
        self._drop_consumers()

    def _drop_consumers(self) -> None:
        for consumer in list(self._consumers.values()):
            self.remove_consumer(consumer.consumer_id)
            consumer.drop()

    # -- pushing ----------------------------------------------------------------

    def _dispatch(self) -> None:
        if not self._consumers or self._closed:
            return
        buffered = len(self._buffer)
        now = time.monotonic()
        for queue in (self._retry, self._replay, self._buffer):
            if not self._push_from(queue, now):
                break
        if len(self._buffer) < buffered:
            self._wake.set()  # room to read more, whoever made it

    def _push_from(self, queue: deque[Message], now: float) -> bool:
        """Push what the strategy lets through; False once nobody has room."""
        skipped: list[Message] = []
        result = PushResult.SENT
        while queue:
            message = queue[0]
            if message.ack_id in self._outstanding:
                queue.popleft()
                self._drop_duplicate(message)
                continue
            result = self._strategy.push(message)
            if result is PushResult.NO_CAPACITY:
                break
            queue.popleft()
            if result is PushResult.SENT:
                self._begin(message, now)
            else:
                skipped.append(message)
        queue.extendleft(reversed(skipped))
        return result is not PushResult.NO_CAPACITY

    def _begin(self, message: Message, now: float) -> None:
        self._outstanding[message.ack_id] = message
        self._deadlines.add(message, now + self.settings.message_timeout_ms / 1000)
        self.total_items += 1

    def _drop_duplicate(self, message: Message) -> None:
        # The server skips a second message with an id already in flight.
        self._bound.warning("persistent_group.duplicate_skipped", event_id=message.ack_id)
        self._finish(message)

    # -- settling messages --------------------------------------------------------

    def _take(self, ack_id: str) -> Message | None:
        message = self._outstanding.pop(ack_id, None)
        if message is None:
            return None
        consumer = self._consumers.get(message.consumer_id or "")
        if consumer is not None and consumer.release(ack_id) is not None:
            self._strategy.confirmed(consumer, message)
        return message

    def _is_outstanding(self, message: Message) -> bool:
        return self._outstanding.get(message.ack_id) is message

    def _finish(self, message: Message) -> None:
        if message.position is not None:  # replayed parked events are not tracked
            self._progress.finish(message)

    def _retry_or_park(self, message: Message) -> None:
        limit = self.settings.max_retry_count
        if message.retry_count >= limit:
            self._park(message, f"Reached retry count of {limit}")
        else:
            self._retry_message(message)

    def _retry_message(self, message: Message) -> None:
        message.retry_count += 1
        if message.position is None:
            self._replay.append(message)
            return
        # Retries come mostly in position order: look for the place from the back.
        retry = self._retry
        index = len(retry)
        while index > 0 and message.position < (retry[index - 1].position or 0):
            index -= 1
        retry.insert(index, message)

    def _park(self, message: Message, reason: str) -> None:
        self._parking.append((message, reason))
        if "park" not in self._tasks:
            self._tasks["park"] = asyncio.create_task(self._park_pending())

    async def _park_pending(self) -> None:
        try:
            while self._parking:
                batch, self._parking = self._parking, []
                parkings = [Parking(m.resolved, why, m.unresolved_link) for m, why in batch]
                try:
                    await self._streams.park(parkings)
                    # Recount rather than add: a replay's truncation and recount may have
                    # run while this park was being written, and would be counted twice.
                    self.parked_count = self._streams.parked_count()
                except StorageError as error:
                    self._bound.error("persistent_group.park_failed", error=str(error))
                for message, _ in batch:
                    self._finish(message)
                self._after_change()
        finally:
            del self._tasks["park"]

    def _after_change(self, *, checkpoint: bool = True) -> None:
        if checkpoint:
            self._maybe_checkpoint(clock_tick=False)
        self._wake.set()
        self._dispatch()

    # -- checkpoints ------------------------------------------------------------

    def _maybe_checkpoint(self, *, clock_tick: bool) -> None:
        if "checkpoint" in self._tasks:
            return  # no new checkpoint while one is being written
        now = time.monotonic()
        position = self._progress.due(now, clock_tick=clock_tick)
        if position is None:
            return
        self._start_checkpoint(position, now)

    def _checkpoint_now(self) -> None:
        """Checkpoint whatever is finished, due or not (the group is closing)."""
        position = self._progress.done_through
        if position is not None and position != self._progress.checkpointed:
            self._start_checkpoint(position, time.monotonic())

    def _start_checkpoint(self, position: int, now: float) -> None:
        self._progress.checkpoint_taken(position, now)
        self.last_checkpoint = self.position_text(position)
        task = asyncio.create_task(self._write_checkpoint(self.last_checkpoint))
        self._tasks["checkpoint"] = task

    async def _write_checkpoint(self, position: str) -> None:
        try:
            await self._streams.write_checkpoint(position)
        except StorageError as error:
            self._bound.error("persistent_group.checkpoint_failed", error=str(error))
        finally:
            del self._tasks["checkpoint"]

    def _load_checkpoint(self) -> tuple[str, int] | None:
        """The stored checkpoint and its position; an unreadable one counts as none."""
        try:
            text = self._streams.load_checkpoint()
            if text is None:
                return None
            return text, StartFrom.parse(text, is_all=self.settings.is_all).commit
        except ValueError as error:
            self._bound.error("persistent_group.checkpoint_unreadable", error=str(error))
            return None


def _cadence(settings: GroupSettings) -> CheckpointCadence:
    after = settings.checkpoint_after_ms
    return CheckpointCadence(
        min_count=settings.min_checkpoint_count,
        max_count=settings.max_checkpoint_count,
        after=after / 1000 if after != 0 else None,
    )


def _retry_order(message: Message) -> tuple[bool, int]:
    return (message.position is None, message.position or 0)

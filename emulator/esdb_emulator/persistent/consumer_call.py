"""One consumer's `Read` call: the confirmation, then its events; acks and nacks
come back on the request stream and are applied as they arrive.

The group hands messages over synchronously (`Consumer.deliver`); they wait in an
inbox until the call writes them. When the call ends, however it ends, the
consumer leaves the group and its in-flight messages are retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from esdbclient.protos.Grpc import persistent_pb2

from esdb_emulator.log.records import ResolvedEvent
from esdb_emulator.persistent import wire
from esdb_emulator.persistent.engine import Group
from esdb_emulator.persistent.model import Consumer, Message

_log = structlog.get_logger("esdb_emulator.persistent.consumer")

#: What waits for the call: an event with its retry count and whether it is a link
#: whose event is gone; None when the group dropped the consumer.
_Delivery = tuple[ResolvedEvent, int, bool] | None


class _Inbox:
    """Deliveries waiting for the call to write them (cheaper than asyncio.Queue)."""

    def __init__(self) -> None:
        self._items: list[_Delivery] = []
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: _Delivery) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def deliver(self, message: Message) -> None:
        self._items.append((message.resolved, message.retry_count, message.unresolved_link))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drop(self) -> None:
        self.put(None)

    async def take_all(self) -> list[_Delivery]:
        """Everything waiting, in order; waits until there is something."""
        if not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, self._items = self._items, []
        return items


async def serve_consumer(
    group: Group,
    options: persistent_pb2.ReadReq.Options,
    requests: AsyncIterator[persistent_pb2.ReadReq],
    connection_name: str,
    write: Callable[[persistent_pb2.ReadResp], Awaitable[None]],
) -> None:
    """Write one consumer's replies until the call ends; raises wire.WireError when
    it must end with an error (the group is full, or was dropped under the consumer)."""
    source, name = group.settings.source, group.settings.group
    if group.is_full:
        raise wire.group_full(source, name)
    if options.buffer_size <= 0:
        raise wire.handler_exception(
            "ArgumentOutOfRangeException", "buffer_size must be greater than zero"
        )
    inbox = _Inbox()
    consumer = Consumer(
        consumer_id=str(uuid.uuid4()),
        connection_name=connection_name,
        max_in_flight=options.buffer_size,
        deliver=inbox.deliver,
        drop=inbox.drop,
    )
    structured = options.uuid_option.WhichOneof("content") == "structured"
    group.add_consumer(consumer)
    settling = asyncio.create_task(_settle(group, requests), name="persistent acks")
    try:
        await write(wire.confirmation(group.settings.key))
        while True:
            for delivery in await inbox.take_all():
                if delivery is None:
                    raise wire.consumer_dropped(source, name)
                resolved, retry_count, unresolved = delivery
                reply = wire.event_reply(
                    resolved, retry_count, unresolved_link=unresolved, structured_ids=structured
                )
                await write(reply)
    finally:
        settling.cancel()
        group.remove_consumer(consumer.consumer_id)


async def _settle(group: Group, requests: AsyncIterator[persistent_pb2.ReadReq]) -> None:
    """Apply a consumer's acks and nacks until its request stream ends."""
    try:
        async for request in requests:
            which = request.WhichOneof("content")
            if which == "ack":
                group.ack(wire.ack_ids(request.ack.ids))
            elif which == "nack":
                nack = request.nack
                group.nack(nack.action, wire.ack_ids(nack.ids), nack.reason)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - like the server, a broken request stream just ends
        _log.debug("persistent_consumer.requests_ended", exc_info=True)

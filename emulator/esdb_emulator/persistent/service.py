"""The `PersistentSubscriptions` servicer: group management and the `Read` stream.

Create, Update and Delete run one at a time and persist the whole configuration
before they take effect, so a failed write changes nothing. Update and Delete drop
the group's consumers (CANCELLED "... was dropped.", as the server does); Update
builds the group afresh from its stored checkpoint. A clock tick every second, as
on the server, times out messages and takes timed checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from esdbclient.protos.Grpc import persistent_pb2, persistent_pb2_grpc, shared_pb2

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import ProposedEvent, StorageError, StreamNotFound
from esdb_emulator.persistent import wire
from esdb_emulator.persistent.config import (
    CONFIG_EVENT_TYPE,
    CONFIG_MAX_COUNT,
    CONFIG_STREAM,
    ConfigError,
    decode_config,
    encode_config,
    first_position_of,
)
from esdb_emulator.persistent.consumer_call import serve_consumer
from esdb_emulator.persistent.engine import Group
from esdb_emulator.persistent.settings import (
    ALL,
    GroupSettings,
    SettingsError,
    check_buffers,
    from_create,
    from_update,
    source_of,
    validate,
)
from esdb_emulator.persistent.strategies import STRATEGY_NAMES
from esdb_emulator.streams.filters import InvalidFilterError

_Context = grpc.aio.ServicerContext[Any, Any]
_T = TypeVar("_T")

_log = structlog.get_logger("esdb_emulator.persistent.service")

#: Seconds between clock ticks (message timeouts, timed checkpoints). The server
#: ticks each second, and clients notice: a 0.1 s message timeout in effect lasts
#: until the next tick, long enough for esdbclient's acks (batched for 0.2 s) to land.
DEFAULT_TICK_INTERVAL = 1.0


class PersistentSubscriptionsService(persistent_pb2_grpc.PersistentSubscriptionsServicer):
    """All groups of one node. `start()` loads them from the log; `stop()` ends them."""

    def __init__(self, log: EventLog, *, tick_interval: float = DEFAULT_TICK_INTERVAL) -> None:
        self._log = log
        self._tick_interval = tick_interval
        self._groups: dict[str, Group] = {}
        self._topics: set[str] = set()
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the stored groups (with their checkpoints) and start the clock."""
        for settings in self._stored_groups():
            if settings.key in self._groups:
                _log.warning("persistent_config.duplicate_ignored", group=settings.key)
                continue
            try:
                self._install(settings)
            except (InvalidFilterError, KeyError, ValueError) as error:
                _log.error("persistent_config.group_ignored", group=settings.key, error=str(error))
        self._ticker = asyncio.create_task(self._tick_forever(), name="persistent clock")
        _log.info("persistent.started", groups=len(self._groups))

    async def stop(self) -> None:
        """Stop the clock and close every group (consumers are dropped)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for group in list(self._groups.values()):
            await group.close()

    # -- management -------------------------------------------------------------

    async def Create(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.CreateReq, context: _Context
    ) -> persistent_pb2.CreateResp:
        """Create a group; INTERNAL for settings the server refuses, ALREADY_EXISTS."""
        return await _guard(context, lambda: self._create(request.options))

    async def Update(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.UpdateReq, context: _Context
    ) -> persistent_pb2.UpdateResp:
        """Replace a group's settings (not its filter); NOT_FOUND if there is no group."""
        return await _guard(context, lambda: self._update(request.options))

    async def Delete(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.DeleteReq, context: _Context
    ) -> persistent_pb2.DeleteResp:
        """Delete a group with its checkpoint and parked streams."""
        options = request.options
        return await _guard(context, lambda: self._delete(_source(options), options.group_name))

    async def GetInfo(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.GetInfoReq, context: _Context
    ) -> persistent_pb2.GetInfoResp:
        """One group's settings and statistics."""

        async def info() -> persistent_pb2.GetInfoResp:
            group = self._group(_source(request.options), request.options.group_name)
            return persistent_pb2.GetInfoResp(subscription_info=wire.subscription_info(group))

        return await _guard(context, info)

    async def List(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.ListReq, context: _Context
    ) -> persistent_pb2.ListResp:
        """Every group, or those of one stream (NOT_FOUND for a stream never used)."""
        return await _guard(context, lambda: self._list(request.options))

    async def ReplayParked(  # noqa: N802 - gRPC method name
        self, request: persistent_pb2.ReplayParkedReq, context: _Context
    ) -> persistent_pb2.ReplayParkedResp:
        """Redeliver a group's parked events (all, or those below `stop_at`)."""
        return await _guard(context, lambda: self._replay_parked(request.options))

    async def _create(self, options: persistent_pb2.CreateReq.Options) -> persistent_pb2.CreateResp:
        source, name = source_of(options), options.group_name
        try:
            settings = from_create(options)
            if settings.filter is not None:
                settings.filter.compile()
        except SettingsError as error:
            raise wire.group_failed(source, name, error.reason) from None
        except InvalidFilterError as error:
            raise wire.handler_exception("RegexParseException", str(error)) from None
        async with self._lock:
            try:
                validate(settings, self._log.last_position)
                if settings.key in self._groups:
                    raise wire.group_exists(source, name)
                check_buffers(settings)
            except SettingsError as error:
                raise wire.group_failed(source, name, error.reason) from None
            settings = self._resolve_start(settings)
            await self._save([*self._settings(), settings], source, name)
            self._install(settings)
        _log.info("persistent_group.created", group=settings.key, start=str(settings.start_from))
        return persistent_pb2.CreateResp()

    async def _update(self, options: persistent_pb2.UpdateReq.Options) -> persistent_pb2.UpdateResp:
        source, name = source_of(options), options.group_name
        async with self._lock:
            current = self._group(source, name)
            try:
                settings = from_update(options, current.settings)
                validate(settings, self._log.last_position)
                check_buffers(settings)
            except SettingsError as error:
                raise wire.group_failed(source, name, error.reason) from None
            settings = self._resolve_start(settings)
            stored = [settings if s.key == settings.key else s for s in self._settings()]
            await self._save(stored, source, name)
            replays = await current.close("update")
            self._install(settings).resume_replays(replays)
        _log.info("persistent_group.updated", group=settings.key)
        return persistent_pb2.UpdateResp()

    async def _delete(self, source: str, name: str) -> persistent_pb2.DeleteResp:
        async with self._lock:
            group = self._group(source, name)
            key = group.settings.key
            await self._save([s for s in self._settings() if s.key != key], source, name)
            del self._groups[key]
            await group.close("delete")
            await group.delete_streams()
        _log.info("persistent_group.deleted", group=key)
        return persistent_pb2.DeleteResp()

    async def _list(self, options: persistent_pb2.ListReq.Options) -> persistent_pb2.ListResp:
        if options.WhichOneof("list_option") == "list_for_stream":
            stream_option = options.list_for_stream
            if stream_option.WhichOneof("stream_option") == "all":
                source = ALL
            else:
                source = stream_option.stream.stream_name.decode("utf-8", "replace")
            if source not in self._topics:
                raise wire.group_not_found(source, "")
            groups = [g for g in self._groups.values() if g.settings.source == source]
        else:
            groups = sorted(self._groups.values(), key=lambda g: g.settings.source)
        return persistent_pb2.ListResp(subscriptions=[wire.subscription_info(g) for g in groups])

    async def _replay_parked(
        self, options: persistent_pb2.ReplayParkedReq.Options
    ) -> persistent_pb2.ReplayParkedResp:
        source, name = _source(options), options.group_name
        stop_at = options.stop_at if options.WhichOneof("stop_at_option") == "stop_at" else None
        if stop_at is not None and stop_at < 0:
            raise wire.group_failed(
                source, name, "Cannot stop replaying parked message at a negative version."
            )
        await self._group(source, name).replay_parked(stop_at)
        return persistent_pb2.ReplayParkedResp()

    # -- Read -------------------------------------------------------------------

    async def Read(  # noqa: N802 - gRPC method name
        self,
        request_iterator: AsyncIterator[persistent_pb2.ReadReq],
        context: _Context,
    ) -> None:
        """A consumer: confirmation, then events as the group pushes them; acks and
        nacks arrive on the request stream."""
        try:
            first = await anext(request_iterator, None)
            if first is None:
                return
            if first.WhichOneof("content") != "options":
                raise wire.handler_exception("InvalidOperationException", "options expected")
            options = first.options
            group = self._group(_source(options), options.group_name)
            name = _metadata(context, "connection-name") or "<unknown>"
            await serve_consumer(group, options, request_iterator, name, context.write)
        except Exception as error:  # noqa: BLE001 - every failure gets a wire shape
            failure = _failure_for(error)
        else:
            return
        await context.abort(failure.code, failure.details, failure.trailers)

    # -- internals ----------------------------------------------------------------

    def _group(self, source: str, name: str) -> Group:
        group = self._groups.get(f"{source}::{name}")
        if group is None:
            raise wire.group_not_found(source, name)
        return group

    def _settings(self) -> list[GroupSettings]:
        return [group.settings for group in self._groups.values()]

    def _install(self, settings: GroupSettings) -> Group:
        """Build, load and start a group, replacing any of the same key in place."""
        group = Group(settings, self._log)
        group.load()
        group.start()
        self._groups[settings.key] = group
        self._topics.add(settings.source)
        return group

    def _resolve_start(self, settings: GroupSettings) -> GroupSettings:
        """Pin "from the end" to where the end is now; other starts read from themselves."""
        start = settings.start_from
        if not start.is_end:
            first = first_position_of(start)
        elif settings.is_all:
            first = self._log.last_position + 1
        else:
            last = self._log.stream_revision(settings.source)
            first = 0 if last is None else last + 1
        return dataclasses.replace(settings, first_position=first)

    async def _save(self, groups: list[GroupSettings], source: str, name: str) -> None:
        """Append the configuration of `groups`; INTERNAL if the log refuses it."""
        config = ProposedEvent(
            str(uuid.uuid4()), CONFIG_EVENT_TYPE, "application/json", b"", encode_config(groups)
        )
        try:
            if self._log.stream_revision(CONFIG_STREAM) is None:
                metadata = f'{{"$maxCount": {CONFIG_MAX_COUNT}}}'.encode()
                limit = ProposedEvent(
                    str(uuid.uuid4()), "$metadata", "application/json", b"", metadata
                )
                await self._log.append("$$" + CONFIG_STREAM, "any", [limit])
            await self._log.append(CONFIG_STREAM, "any", [config])
        except StorageError as error:
            raise wire.group_failed(source, name, str(error)) from None

    def _stored_groups(self) -> list[GroupSettings]:
        try:
            latest = self._log.read_stream(
                CONFIG_STREAM, revision=None, backwards=True, limit=1, resolve_links=False
            )
        except StreamNotFound:
            return []
        if not latest:
            return []
        try:
            groups = decode_config(latest[0].event.data)
        except ConfigError as error:
            _log.error("persistent_config.unreadable", error=str(error))
            return []
        return [g for g in groups if _loadable(g)]

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            now = time.monotonic()
            for group in list(self._groups.values()):
                try:
                    group.tick(now)
                except Exception:  # noqa: BLE001 - one bad group must not stop the clock
                    _log.exception("persistent_group.tick_failed", group=group.settings.key)


async def _guard(context: _Context, work: Callable[[], Awaitable[_T]]) -> _T:
    """Run `work`; end the call with the wire shape of whatever it raises."""
    try:
        return await work()
    except Exception as error:  # noqa: BLE001 - every failure gets a wire shape
        failure = _failure_for(error)
    await context.abort(failure.code, failure.details, failure.trailers)


def _failure_for(error: Exception) -> wire.WireError:
    """A WireError as it is; anything else as the server's unhandled-exception reply."""
    if isinstance(error, wire.WireError):
        return error
    _log.exception("persistent.unexpected_error")
    return wire.handler_exception(type(error).__name__, str(error))


def _source(
    options: persistent_pb2.ReadReq.Options
    | persistent_pb2.DeleteReq.Options
    | persistent_pb2.GetInfoReq.Options
    | persistent_pb2.ReplayParkedReq.Options,
) -> str:
    if options.WhichOneof("stream_option") == "all":
        return ALL
    identifier: shared_pb2.StreamIdentifier = options.stream_identifier
    return identifier.stream_name.decode("utf-8", "replace")


def _metadata(context: _Context, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def _loadable(settings: GroupSettings) -> bool:
    if settings.consumer_strategy not in STRATEGY_NAMES:
        _log.error(
            "persistent_config.unknown_strategy",
            group=settings.key,
            strategy=settings.consumer_strategy,
        )
        return False
    return True

"""The order service: load the order's stream -> fold -> decide -> append at the exact revision.

`OrderService` is given its store and settings by the composition root
(`orders.bootstrap`); it never builds either. The command functions scripts import
(`orders.place_order`, ...) are in `orders.api`.

Each call is idempotent by command id: event ids are `uuid5(command_id, str(index))`, so a
repeated command finds its events already in the stream and reports `already_applied`
instead of appending twice. A command id names one request (see `orders.idempotency`):
events found under it that a different command (kind or arguments, told by the
fingerprint in their metadata) appended, or the claim of a caller-given command id by a
request on another order, refuse the call with `CommandIdReused` and nothing is written.
Conflicts (someone appended first) reload and re-decide; transient store errors back off;
both are bounded (`orders.retry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack
from uuid import UUID, uuid4, uuid5

import structlog

from orders.codec import CommandContext, RecordedOrderEvent, decode, encode, event_id, metadata_of
from orders.commands import OrderCommand, PlaceOrder
from orders.decider import Order, decide, fold, initial_state
from orders.errors import CommandIdReused, DomainError, InvalidCommand
from orders.events import OrderEvent
from orders.idempotency import claim_event, claim_mismatch, fingerprint, request_mismatch
from orders.ports import EncodedEvent, OrderStore
from orders.retry import Tally, run_with_retries
from orders.settings import Settings
from orders.state_cache import OrderCache
from orders.streams import stream_name

_log = structlog.get_logger("orders.service")
_COMMAND_ID_NAMESPACE = UUID("0b6f3a52-7d0e-4c55-9d1e-2f4d8a1c6e90")
_ORDER_ID_NAMESPACE = UUID("6a1d9e0c-58b4-4f3e-a7c2-93e5d1b04f78")


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of a command call.

    `revision` and `commit_position` are those of the command's last event (for a command
    that changed nothing, of the stream's last event); `events` are the events the command
    produced, read back from the stream when `already_applied`.
    """

    order_id: str
    revision: int
    events: tuple[RecordedOrderEvent, ...]
    commit_position: int | None
    already_applied: bool
    command_id: UUID
    conflicts_retried: int = 0
    transient_errors_retried: int = 0


class CallOptions(TypedDict, total=False):
    """Keyword options of `OrderService.execute`: the command's identity and provenance."""

    command_id: UUID | str | None
    correlation_id: str | None
    causation_id: str | None
    actor: str | None


class OrderService:
    """Runs order commands against one store, with the given settings' actor and retries,
    and a cache of the orders it last used (`settings.state_cache_size`)."""

    def __init__(self, store: OrderStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.cache = OrderCache(settings.state_cache_size)

    def execute(self, command: OrderCommand, **options: Unpack[CallOptions]) -> CommandResult:
        """Run a built command: idempotent by command id, retried on conflicts.

        Raises DomainError (refused by a rule; CommandIdReused when the command id already
        names a different request), StoreUnavailable / TransientStoreError (after the
        retries), ConcurrencyConflict (when conflicts outlast the retries).
        """
        settings, store = self.settings, self.store
        context = _context(command, options, settings.actor)
        bound = {
            "stream": stream_name(command.order_id),
            "command": type(command).__name__,
            "command_id": str(context.command_id),
            "correlation_id": context.correlation_id,
        }
        with structlog.contextvars.bound_contextvars(**bound):
            try:
                given = options.get("command_id")
                key = str(given or context.command_id)
                claim = None if given is None else claim_event(command, context.command_id, key)
                loaded = _Loaded(event_id(context.command_id, 0), claim)
                # Perf (benchmarks/peers.py): under a command id made just now (no earlier
                # run of it can exist anywhere), the first attempt skips the read when the
                # order is cached, or when it is being placed (NO_STREAM). The append's
                # expected revision catches a stale assumption, and an outcome no append
                # confirms is decided again on a fresh read (see `_attempt`). A caller's
                # command id may name a request another process ran: its events could
                # sit past the cached revision, where the server's idempotent append would
                # answer success for them, so such a call always reads.
                cached = self.cache.take(command.order_id)
                if given is None and cached is not None:
                    loaded.assume(cached.history, cached.state)
                elif given is None and isinstance(command, PlaceOrder):
                    loaded.assume((), loaded.state)
                result = run_with_retries(
                    lambda tally: _attempt(command, context, store, tally, loaded, key=key),
                    settings.retry,
                )
            except DomainError as e:
                _log.info("order.rejected", rule=e.rule, reason=str(e))
                raise
            self.cache.put(command.order_id, loaded.history, loaded.state)
            return result


@dataclass
class _Loaded:
    """The order's stream as known to one call: a retry reads only the new tail.

    `first_event_id` is the id the command's first event has (or would have); `claim` the
    claim of a caller-given command id still to be made before the first append.
    `assumed`: history and state were not read by this call (cached, or an order about
    to be placed taken as empty); the next catch-up skips the read once, and only an
    append confirms them."""

    first_event_id: UUID
    claim: EncodedEvent | None = None
    history: list[RecordedOrderEvent] = field(default_factory=list)
    state: Order = field(default_factory=initial_state)
    assumed: bool = False
    _skip_read: bool = False

    @property
    def revision(self) -> int | None:
        return self.history[-1].revision if self.history else None

    def assume(self, history: Sequence[RecordedOrderEvent], state: Order) -> None:
        self.history, self.state = list(history), state
        self.assumed = self._skip_read = True

    def catch_up(self, store: OrderStore, order_id: str) -> None:
        if self._skip_read:
            self._skip_read = False
            return
        if self.assumed:  # read all of it: cached events appended here lack their positions
            self.history, self.state, self.assumed = [], initial_state(), False
        start = 0 if self.revision is None else self.revision + 1
        tail = [decode(stored) for stored in store.read(order_id, from_revision=start)]
        self.history.extend(tail)
        self.state = fold((recorded.event for recorded in tail), self.state)

    def appended(
        self, events: Sequence[OrderEvent], recorded: Sequence[RecordedOrderEvent]
    ) -> None:
        """The command's own append succeeded: the stream is as assumed, plus `recorded`."""
        self.history.extend(recorded)
        self.state = fold(events, self.state)
        self.assumed = False


class _Unconfirmed(Exception):
    """An outcome decided on assumed state that no append confirms: read, decide again."""


def _attempt(
    command: OrderCommand,
    context: CommandContext,
    store: OrderStore,
    tally: Tally,
    loaded: _Loaded,
    *,
    key: str,
) -> CommandResult:
    """One load -> decide -> append; `key` is the command id as the caller gave it. An
    outcome decided on assumed state is only returned once an append confirms it; any
    other (a rejection, "already applied", nothing to do) is decided again on a read."""
    loaded.catch_up(store, command.order_id)
    try:
        return _decide_and_append(command, context, store, tally, loaded, key=key)
    except _Unconfirmed:
        loaded.catch_up(store, command.order_id)
        return _decide_and_append(command, context, store, tally, loaded, key=key)


def _decide_and_append(
    command: OrderCommand,
    context: CommandContext,
    store: OrderStore,
    tally: Tally,
    loaded: _Loaded,
    *,
    key: str,
) -> CommandResult:
    history, revision = loaded.history, loaded.revision
    structlog.contextvars.bind_contextvars(revision=revision)
    earlier = _applied_by(context.command_id, history, loaded.first_event_id)
    if earlier and loaded.assumed:
        raise _Unconfirmed
    if earlier:
        mismatch = request_mismatch(command, earlier[0].event, earlier[0].metadata.command_hash)
        if mismatch is not None:
            status = loaded.state.status
            raise CommandIdReused(
                command.order_id,
                None if status is None else status.value,
                key,
                f"{mismatch} (revision {earlier[0].revision})",
            )
        ours = {event.event_id for event in earlier} <= tally.sent_event_ids
        return _found(command, context, earlier, history, tally, already_applied=not ours)
    try:
        events = decide(command, loaded.state)
    except DomainError:
        if loaded.assumed:
            raise _Unconfirmed from None
        raise
    if not events and loaded.assumed:
        raise _Unconfirmed
    if not events:  # e.g. a payment id already recorded: nothing to do
        _log.info("order.already_applied", reason="command changes nothing")
        return _found(command, context, (), history, tally, already_applied=True)
    _claim(command, context, store, loaded, key=key)
    encoded = [encode(event, context, index) for index, event in enumerate(events)]
    tally.sent_event_ids.update(item.id for item in encoded)
    appended = store.append(command.order_id, revision, encoded)
    _log.info(
        "order.appended",
        events=[e.event_type for e in events],
        new_revision=appended.revision,
        commit_position=appended.commit_position,
    )
    first = appended.revision - len(events) + 1
    recorded = tuple(
        _fresh(command, context, event, item.id, first + index)
        for index, (event, item) in enumerate(zip(events, encoded, strict=True))
    )
    loaded.appended(events, recorded)
    return _result(
        command,
        context,
        recorded,
        revision=appended.revision,
        position=appended.commit_position,
        tally=tally,
    )


def _claim(
    command: OrderCommand,
    context: CommandContext,
    store: OrderStore,
    loaded: _Loaded,
    *,
    key: str,
) -> None:
    """Make `loaded.claim` of the command id; refuse if another request holds the id."""
    if loaded.claim is None:
        return
    holder = store.claim(context.command_id, loaded.claim)
    mismatch = None if holder is None else claim_mismatch(command, holder)
    if mismatch is not None:
        status = loaded.state.status
        raise CommandIdReused(
            command.order_id, None if status is None else status.value, key, mismatch
        )
    loaded.claim = None  # held: a re-run after a conflict need not claim again


def _applied_by(
    command_id: UUID, history: Sequence[RecordedOrderEvent], first: UUID
) -> list[RecordedOrderEvent]:
    """The events an earlier run of this command appended (consecutive ids from `first`)."""
    for start, recorded in enumerate(history):
        if recorded.event_id == first:
            found = []
            for index, candidate in enumerate(history[start:]):
                if index and candidate.event_id != event_id(command_id, index):
                    break
                found.append(candidate)
            return found
    return []


def _found(
    command: OrderCommand,
    context: CommandContext,
    events: Sequence[RecordedOrderEvent],
    history: Sequence[RecordedOrderEvent],
    tally: Tally,
    *,
    already_applied: bool,
) -> CommandResult:
    last = events[-1] if events else history[-1]
    if already_applied:
        _log.info("order.already_applied", events=len(events))
    return _result(
        command,
        context,
        tuple(events),
        revision=last.revision,
        position=last.commit_position,
        tally=tally,
        already_applied=already_applied,
    )


def _result(
    command: OrderCommand,
    context: CommandContext,
    events: tuple[RecordedOrderEvent, ...],
    *,
    revision: int,
    position: int | None,
    tally: Tally,
    already_applied: bool = False,
) -> CommandResult:
    return CommandResult(
        order_id=command.order_id,
        revision=revision,
        events=events,
        commit_position=position,
        already_applied=already_applied,
        command_id=context.command_id,
        conflicts_retried=tally.conflicts,
        transient_errors_retried=tally.transient_errors,
    )


def _fresh(
    command: OrderCommand, context: CommandContext, event: OrderEvent, id_: UUID, revision: int
) -> RecordedOrderEvent:
    """The result's view of an event just appended (its recorded time is not known)."""
    return RecordedOrderEvent(
        event=event,
        metadata=metadata_of(event, context),
        event_id=id_,
        stream=stream_name(command.order_id),
        revision=revision,
        commit_position=None,
        recorded_at=None,
        stored_type=event.event_type,
        stored_version=event.schema_version,
    )


def _context(command: OrderCommand, options: CallOptions, default_actor: str) -> CommandContext:
    command_id = _command_uuid(options.get("command_id"))
    return CommandContext(
        command_id=command_id,
        correlation_id=options.get("correlation_id") or str(command_id),
        causation_id=options.get("causation_id") or str(command_id),
        actor=options.get("actor") or default_actor,
        occurred_at=command.at,
        command_hash=fingerprint(command),
    )


def order_id_for(command_id: UUID | str) -> str:
    """The order id a place without an explicit one gets from its command id (uuid5 over
    a fixed namespace), so a retried place names the same order and is "already applied".
    """
    return str(uuid5(_ORDER_ID_NAMESPACE, str(_command_uuid(command_id))))


def _command_uuid(value: UUID | str | None) -> UUID:
    """A UUID as is; any other non-empty string mapped to a stable UUID; None: a new one."""
    if value is None:
        return uuid4()
    if isinstance(value, UUID):
        return value
    if not value.strip():
        raise InvalidCommand("command_id", "must not be empty")
    try:
        return UUID(value)
    except ValueError:
        return uuid5(_COMMAND_ID_NAMESPACE, value)

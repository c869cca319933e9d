"""`projections parked` and `projections replay-parked`: what a projection's group has
parked, and sending it back to the workers.

Each parked event is decoded through `orders.codec.decode` (the upcaster chain), as the
worker decodes it, so the listing says what a worker would see now: the current type when
the event decodes (it was parked for another reason: a failing statement, or blocked
behind an earlier event of its stream), else the decode error naming stream, revision,
type and version. Listing never writes; a replay is the server's `ReplayParked`, after
which the workers apply the events in stream order, each once (see docs/read-side.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from orders import codec
from orders.errors import EventDecodeError
from orders.ports import StoredEvent
from projections import esdb
from projections.batch import Decode
from projections.errors import GroupMissing
from projections.esdb import (
    GroupInfo,
    ParkedLink,
    group_info,
    group_name,
    parked_links,
    parked_stream,
    replay_parked,
)
from projections.read_models import registry


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """One parked event as the worker would decode it now.

    `position` is its place in the parked stream. `current_type` is set when it decodes;
    `error` (naming stream, revision, type and version) when it does not. `reason` is the
    server's, e.g. "Client explicitly NAK'ed message." or a retry limit reached.
    """

    position: int
    stream: str | None
    revision: int | None
    stored_type: str | None
    stored_version: int | None
    current_type: str | None
    error: str | None
    reason: str | None
    parked_at: str | None


@dataclass(frozen=True, slots=True)
class ParkedListing:
    """The first events parked by a projection's group, and how many it holds in all."""

    projection: str
    group: str
    parked_stream: str
    parked: int
    events: list[ParkedEvent]


def inspect(link: ParkedLink, decode: Decode = codec.decode) -> ParkedEvent:
    """Decode the event `link` points to; a bad event is reported, never raised."""
    target = link.target
    if target is None:
        return _event(link, None, error=f"the link {link.points_to!r} no longer resolves")
    try:
        recorded = decode(target)
    except EventDecodeError as e:
        return _event(link, target, version=e.version, error=str(e))
    except Exception as e:  # noqa: BLE001  reported as the worker reports it when it parks
        return _event(link, target, error=f"{type(e).__name__}: {e}")
    current = recorded.event.event_type
    return _event(link, target, version=recorded.stored_version, current=current)


def listing(client: esdb.Client, projection: str, group: str, limit: int) -> ParkedListing:
    """The first `limit` events `group` holds parked, decoded; raises GroupMissing."""
    info = _existing(client, projection, group)
    events = [inspect(link) for link in parked_links(client, group, limit)]
    return ParkedListing(projection, group, parked_stream(group), info.parked, events)


def parked_command(args: argparse.Namespace) -> int:
    """`projections parked NAME [--group G] [--limit N] [--json]`."""
    projection = registry.get(args.name).name
    client = esdb.open_client(args.uri)
    try:
        found = listing(client, projection, args.group or group_name(projection), args.limit)
    finally:
        client.close()
    if args.json:
        sys.stdout.write(json.dumps(asdict(found)) + "\n")
    else:
        sys.stdout.write(_text(found))
    return 0


def replay_parked_command(args: argparse.Namespace) -> int:
    """`projections replay-parked NAME [--group G] [--json]`: redeliver what is parked."""
    projection = registry.get(args.name).name
    group = args.group or group_name(projection)
    client = esdb.open_client(args.uri)
    try:
        parked = _existing(client, projection, group).parked
        replay_parked(client, group)
    finally:
        client.close()
    if args.json:
        document = {"projection": projection, "group": group, "replayed": parked}
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        sys.stdout.write(f"{group}: {parked} parked event(s) sent back to its consumers\n")
    return 0


def _existing(client: esdb.Client, projection: str, group: str) -> GroupInfo:
    info = group_info(client, group)
    if info is None:
        raise GroupMissing(
            f"no subscription group {group!r} on the server: no worker of {projection}"
            " has run against it yet"
        )
    return info


def _event(
    link: ParkedLink,
    target: StoredEvent | None,
    *,
    version: int | None = None,
    current: str | None = None,
    error: str | None = None,
) -> ParkedEvent:
    return ParkedEvent(
        position=link.position,
        stream=target.stream if target else None,
        revision=target.revision if target else None,
        stored_type=target.type if target else None,
        stored_version=version,
        current_type=current,
        error=error,
        reason=link.reason,
        parked_at=link.parked_at,
    )


def _text(found: ParkedListing) -> str:
    lines = [
        f"{found.group}: {found.parked} parked, showing {len(found.events)} ({found.parked_stream})"
    ]
    for e in found.events:
        where = f"{e.stream}@{e.revision}" if e.stream is not None else "?"
        stored = f"{e.stored_type} v{e.stored_version if e.stored_version is not None else '?'}"
        outcome = f"decodes to {e.current_type}" if e.error is None else e.error
        lines.append(f"  #{e.position} {where} {stored}: {outcome}")
        if e.reason:
            lines.append(f"      parked: {e.reason.splitlines()[0]}")
    return "\n".join(lines) + "\n"

"""`projections status` and `projections verify`: how far each read model is, and is it right.

Position is the highest commit position applied. Lag in events counts the order events
after it (capped); lag in seconds is the age of the oldest of them. Events before the
position that are still in flight or parked are reported by the server's group info
(in-flight, parked). Consumers are the group's connected subscribers.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orders import codec
from projections import database, esdb, tracking
from projections.errors import ReadModelMissing, ReadModelUnusable
from projections.esdb import OrderLog, group_info, group_name
from projections.location import ReadModelFile, read_model_path
from projections.ops.verify import verify
from projections.read_models import registry

LAG_CAP = 100_000


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One projection's progress, from its read model and from the server."""

    name: str
    path: str
    generation: str | None
    events_applied: int
    streams: int
    position: int | None
    lag_events: int
    lag_seconds: float
    parked: int | None
    in_flight: int | None
    consumers: int | None
    duplicates_skipped: int
    gap_events_read: int
    events_failed: int
    last_applied_at: float | None


def collect(client: esdb.Client, name: str, path: Path) -> ProjectionStatus:
    """The status of projection `name` whose read model lives at `path`."""
    location = ReadModelFile(path)
    meta, streams = _read_model(location)
    position = _int(meta.get("max_commit_position"))
    lag, first = OrderLog(client).after(position, LAG_CAP)
    info = group_info(client, group_name(name))
    live = location.current()
    return ProjectionStatus(
        name=name,
        path=str(path),
        generation=live.name if live else None,
        events_applied=_int(meta.get("events_applied")) or 0,
        streams=streams,
        position=position,
        lag_events=lag,
        lag_seconds=round(max(0.0, time.time() - first.timestamp()), 3) if lag and first else 0.0,
        parked=info.parked if info else None,
        in_flight=info.in_flight if info else None,
        consumers=info.connections if info else None,
        duplicates_skipped=_int(meta.get("duplicates_skipped")) or 0,
        gap_events_read=_int(meta.get("gap_events_read")) or 0,
        events_failed=_int(meta.get("events_failed")) or 0,
        last_applied_at=_float(meta.get("last_applied_at")),
    )


def status_command(args: argparse.Namespace) -> int:
    """`projections status [NAME...] [--projections-dir DIR] [--json]`."""
    names = args.names or list(registry.PROJECTIONS)
    projections = [registry.get(n) for n in names]
    client = esdb.open_client(args.uri)
    try:
        paths = [read_model_path(p.name, None, args.projections_dir) for p in projections]
        rows = [collect(client, p.name, path) for p, path in zip(projections, paths, strict=True)]
    finally:
        client.close()
    if args.json:
        sys.stdout.write(json.dumps([asdict(r) for r in rows]) + "\n")
    else:
        Console().print(_table(rows))
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """`projections verify NAME [--projections-dir DIR | --read-model PATH] [--json]`: exit 1
    if the model differs."""
    projection = registry.get(args.name)
    path = read_model_path(projection.name, args.db, args.projections_dir)
    conn = database.open_for_reading(ReadModelFile(path))
    client = esdb.open_client(args.uri)
    try:
        result = verify(conn, OrderLog(client), projection, codec.decode)
    finally:
        client.close()
        conn.close()
    if args.json:
        document = {"projection": result.projection, "events": result.events, "ok": result.ok}
        sys.stdout.write(json.dumps(document | {"differences": result.differences}) + "\n")
    else:
        verdict = "matches" if result.ok else "DIFFERS from"
        sys.stdout.write(f"{projection.name} {verdict} the fold of {result.events} events\n")
        for line in result.differences:
            sys.stdout.write(f"  {line}\n")
    return 0 if result.ok else 1


def _read_model(location: ReadModelFile) -> tuple[dict[str, object], int]:
    try:
        conn = database.open_for_reading(location)
    except ReadModelMissing:
        return {}, 0
    try:
        meta = tracking.read_meta(conn)
        streams = conn.execute("SELECT count(*) FROM tracking_positions").fetchone()[0]
        return meta, int(streams)
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # created but not yet prepared
            return {}, 0
        raise ReadModelUnusable(f"cannot read the read model at {location.path}: {e}") from None
    except sqlite3.DatabaseError as e:  # corrupt, or not a database at all
        raise ReadModelUnusable(f"cannot read the read model at {location.path}: {e}") from None
    finally:
        conn.close()


_COLUMNS = (
    "projection", "applied", "streams", "position", "lag events", "lag s",
    "parked", "in flight", "consumers", "dups", "gap reads",
)  # fmt: skip
_LOW_VALUE = ("gap reads", "dups", "streams", "position", "in flight")  # left out first


def _table(rows: list[ProjectionStatus], width: int | None = None) -> Table:
    """The status table; columns in `_LOW_VALUE` order are left out (the caption says which)
    until it fits `width` columns (default: the terminal's). `--json` has them all."""
    cells = [
        dict(
            zip(
                _COLUMNS,
                (r.name, *(_show(v) for v in (
                    r.events_applied, r.streams, r.position, r.lag_events, r.lag_seconds,
                    r.parked, r.in_flight, r.consumers, r.duplicates_skipped, r.gap_events_read,
                ))),
                strict=True,
            )
        )
        for r in rows
    ]  # fmt: skip
    width = width or Console().width

    def needed(columns: list[str]) -> int:  # rich's default box: 3 per column + 1
        return 1 + sum(3 + max([len(c), *(len(row[c]) for row in cells)]) for c in columns)

    columns, dropped = list(_COLUMNS), []
    for column in _LOW_VALUE:
        if needed(columns) <= width:
            break
        columns.remove(column)
        dropped.append(column)
    caption = f"{', '.join(dropped)} left out to fit {width} columns (--json has it all)"
    table = Table(title="projections", caption=caption if dropped else None)
    for column in columns:
        table.add_column(
            column, no_wrap=True, justify="left" if column == "projection" else "right"
        )
    for row in cells:
        table.add_row(*(row[c] for c in columns))
    return table


def _show(value: object) -> str:
    return "n/a" if value is None else str(value)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None

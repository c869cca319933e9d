"""What a read model is: a SQLite schema plus a pure `apply` from one event to SQL statements.

`apply` never touches a database, a clock or the network: it maps a decoded, upcast event
to parameterised statements, so it is table-testable and a replay gives identical rows.
Statements only use values from the event, so their effect depends on nothing but the
rows of the event's own order (earlier revisions) and commutative counters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from orders.codec import RecordedOrderEvent

SqlValue: TypeAlias = str | int | float | None
Statement: TypeAlias = tuple[str, tuple[SqlValue, ...]]
"""One SQL statement and its bound parameters."""

Apply: TypeAlias = Callable[[RecordedOrderEvent], Sequence[Statement]]


@dataclass(frozen=True, slots=True)
class Projection:
    """A read model: its name, its DDL, the tables it owns and its pure `apply`.

    `tables` maps each table to the columns that order its rows, so that two databases
    can be compared row for row (the oracle) and dumped deterministically.
    """

    name: str
    schema: tuple[str, ...]
    tables: dict[str, tuple[str, ...]]
    apply: Apply
    description: str = ""


def iso(moment: datetime) -> str:
    """A UTC moment as fixed-width ISO 8601 text (sorts lexicographically in time order)."""
    # isoformat is several times cheaper than strftime, and this runs for every event
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def day(moment: datetime) -> str:
    """The UTC calendar day of a moment, `YYYY-MM-DD`."""
    return moment.astimezone(UTC).date().isoformat()


def occurred(recorded: RecordedOrderEvent) -> datetime:
    """When the event's fact happened: metadata `occurred_at`, else the recorded time.

    Raises ValueError when neither is known (the event cannot be placed in time).
    """
    moment = recorded.occurred_at
    if moment is None:
        raise ValueError(f"{recorded.stream}@{recorded.revision} has no time")
    return moment

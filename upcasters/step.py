"""What an upcaster step is: one pure conversion from a (type, version) to the next.

A step reads one version's data (and, where it needs them, the stream and the recorded
time of the event) and returns the next version's data, leaving its input untouched: the
values that version stores, except that a moment taken from the recorded time is an aware
UTC datetime rather than its ISO text (the model accepts both; formatting it only for the
model to parse it back cost a third of the chain's time). A step may rename the type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias

SchemaKey: TypeAlias = tuple[str, int]
"""A stored event type and its schema version."""


class Recorded(NamedTuple):
    """Where and when the event being upcast was recorded (what some steps need).

    A named tuple, not a dataclass: one is built per upcast event, on every read path.
    """

    stream: str
    revision: int
    recorded_at: datetime


Convert: TypeAlias = Callable[[Mapping[str, Any], Recorded], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Step:
    """Converts `source_type` v`source_version` data to `target_type` v`target_version`."""

    source_type: str
    source_version: int
    target_type: str
    target_version: int
    convert: Convert

    @property
    def source(self) -> SchemaKey:
        """The (type, version) this step reads."""
        return self.source_type, self.source_version

    @property
    def target(self) -> SchemaKey:
        """The (type, version) this step produces."""
        return self.target_type, self.target_version

    def describe(self) -> str:
        """`OrderPlacedEvent v1 -> OrderPlaced v2`."""
        return (
            f"{self.source_type} v{self.source_version}"
            f" -> {self.target_type} v{self.target_version}"
        )

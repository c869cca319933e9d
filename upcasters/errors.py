"""The errors the upcaster chain raises; each names the stream, revision, type and version.

UpcastError (also ValueError)   a step could not convert the stored data
└── UnknownEventVersion         no step knows this (type, schema_version)

Steps themselves raise `StepError` (or KeyError / TypeError on malformed data); the chain
turns those into UpcastError with the event's coordinates, so a step stays a plain function.
"""

from __future__ import annotations


class StepError(ValueError):
    """Raised by a step: the data cannot be converted; the message says which field and why."""


class UpcastError(ValueError):
    """Stored (`event_type`, `schema_version`) at `stream`@`revision` cannot be brought current."""

    def __init__(
        self, event_type: str, schema_version: int, *, stream: str, revision: int, detail: str
    ) -> None:
        self.event_type = event_type
        self.schema_version = schema_version
        self.stream = stream
        self.revision = revision
        self.detail = detail
        super().__init__(
            f"cannot upcast {event_type} v{schema_version} at {stream}@{revision}: {detail}"
        )


class UnknownEventVersion(UpcastError):
    """No upcaster knows this (type, schema_version): never skipped, always an error."""

    def __init__(self, event_type: str, schema_version: int, *, stream: str, revision: int) -> None:
        super().__init__(
            event_type,
            schema_version,
            stream=stream,
            revision=revision,
            detail=f"no upcaster for event type {event_type!r} schema_version {schema_version}",
        )

"""The exceptions `projections` raises; every one derives from `ProjectionError`.

ProjectionError
├── UnknownProjection (also KeyError)  no read model has that name; lists the known ones
├── ReadModelMissing                   the read model's file does not exist yet
├── ReadModelUnusable                  the file (or its folder) cannot be opened or read
├── WrongReadModel                     the file belongs to another projection
├── GenerationRetired                  a rebuild swapped another generation in: reopen
├── RebuildInProgress                  another rebuild of the same read model is running
└── GroupMissing                       the subscription group does not exist on the server
"""

from __future__ import annotations


class ProjectionError(Exception):
    """Root of every error raised by the `projections` package."""


class UnknownProjection(ProjectionError, KeyError):
    """No read model has this name; the message lists the ones that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown projection {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class ReadModelMissing(ProjectionError):
    """The read model has not been created yet (no worker or rebuild has run)."""


class ReadModelUnusable(ProjectionError):
    """The read model's file or folder cannot be created, opened or read (corrupt, not a
    database, unwritable); the message names the path and SQLite's or the OS's reason."""


class WrongReadModel(ProjectionError):
    """The file holds another projection's read model."""


class GenerationRetired(ProjectionError):
    """The generation this connection writes to was replaced by a rebuild."""


class RebuildInProgress(ProjectionError):
    """Another rebuild of this read model holds its lock."""


class GroupMissing(ProjectionError):
    """The projection's subscription group does not exist on the server."""

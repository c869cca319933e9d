"""PLACEHOLDER owned by helper-3, who replaces this whole file with the real service.

Only here so that `esdb_emulator.server` imports while the engine is being written;
every call answers UNIMPLEMENTED (the generated servicer's default).
"""

from __future__ import annotations

from esdbclient.protos.Grpc import persistent_pb2_grpc

from esdb_emulator.storage import EventLog


class PersistentSubscriptionsService(persistent_pb2_grpc.PersistentSubscriptionsServicer):
    """Placeholder: see the module docstring."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    async def start(self) -> None:
        """Nothing to start yet."""

    async def stop(self) -> None:
        """Nothing to stop yet."""

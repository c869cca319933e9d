"""esdb_emulator: a single-node, EventStoreDB 24.10-compatible gRPC server on SQLite.

Run it as a subprocess (`EmulatorProcess(db_path).start().uri`), in-process on a
background thread (`ThreadedEmulator(EmulatorConfig(db_path)).start().uri`), on your
own event loop (`EmulatorServer`), or from the shell (`esdb-emulator --db PATH`).
The application packages never import it: they only know the URI.

The names below are imported on first use, so that importing one module (the
launcher, say) does not load gRPC and the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esdb_emulator.node.launcher import EmulatorProcess, EmulatorStartError
    from esdb_emulator.node.server import EmulatorConfig, EmulatorServer, ThreadedEmulator

_EXPORTS = {
    "EmulatorConfig": "esdb_emulator.node.server",
    "EmulatorProcess": "esdb_emulator.node.launcher",
    "EmulatorServer": "esdb_emulator.node.server",
    "EmulatorStartError": "esdb_emulator.node.launcher",
    "ThreadedEmulator": "esdb_emulator.node.server",
}

__all__ = [
    "EmulatorConfig",
    "EmulatorProcess",
    "EmulatorServer",
    "EmulatorStartError",
    "ThreadedEmulator",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'esdb_emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

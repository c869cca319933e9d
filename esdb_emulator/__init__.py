"""esdb_emulator: a single-node, EventStoreDB 24.10-compatible gRPC server on SQLite.

Run it as a subprocess (`EmulatorProcess(db_path).start().uri`), in-process on a
background thread (`ThreadedEmulator(EmulatorConfig(db_path)).start().uri`), on your
own event loop (`EmulatorServer`), or from the shell (`esdb-emulator --db PATH`).
The application packages never import it: they only know the URI.
"""

from esdb_emulator.launcher import EmulatorProcess, EmulatorStartError
from esdb_emulator.server import EmulatorConfig, EmulatorServer, ThreadedEmulator

__all__ = [
    "EmulatorConfig",
    "EmulatorProcess",
    "EmulatorServer",
    "EmulatorStartError",
    "ThreadedEmulator",
]

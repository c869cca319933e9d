"""Where a read model lives: a symlink naming its current generation file.

`var/projections/order_summary.db` is a symlink to `order_summary.db.gens/<stamp>.db`.
A rebuild writes a new generation beside the live one and swaps the symlink atomically
(`os.replace`); `sqlite3 var/projections/order_summary.db` still just works. A plain file
at the path is accepted as a single generation (a rebuild turns it into a symlink).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

DEFAULT_DIR = Path("var/projections")


def projections_dir() -> Path:
    """`$PROJECTIONS_DIR`, else `./var/projections`."""
    return Path(os.environ.get("PROJECTIONS_DIR") or DEFAULT_DIR)


def default_path(name: str) -> Path:
    """The default location of the read model called `name`."""
    return projections_dir() / f"{name}.db"


def read_model_path(name: str, path: Path | None = None, directory: Path | None = None) -> Path:
    """Where read model `name` lives: `path` if given, else `directory`/NAME.db, else the
    default (`$PROJECTIONS_DIR`/NAME.db)."""
    if path is not None:
        return path
    return directory / f"{name}.db" if directory is not None else default_path(name)


class ReadModelFile:
    """The stable path of one read model and its generation files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generations_dir = path.with_name(path.name + ".gens")

    def current(self) -> Path | None:
        """The live generation's file, or None if the read model does not exist yet."""
        if self.path.is_symlink():
            return self.path.parent / os.readlink(self.path)
        return self.path if self.path.exists() else None

    def new_generation(self) -> Path:
        """A fresh, unused generation path (the file is not created)."""
        self.generations_dir.mkdir(parents=True, exist_ok=True)
        return self.generations_dir / f"{time.time_ns()}-{os.getpid()}.db"

    def link_first(self, generation: Path) -> Path:
        """Make `generation` live if nothing is yet; return whichever generation is live.

        Several workers may start at once: `os.symlink` fails for all but the first.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.symlink(self._relative(generation), self.path)
        live = self.current()
        assert live is not None
        return live

    def switch_to(self, generation: Path) -> None:
        """Atomically make `generation` the live one (readers see old or new, never none)."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.swap")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(self._relative(generation), temporary)
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)

    def prune(self, keep: int = 2) -> list[Path]:
        """Delete all but the newest `keep` generations (never the live one); returns them."""
        live = self.current()
        files = (
            sorted(self.generations_dir.glob("*.db"), key=_stamp)
            if self.generations_dir.exists()
            else []
        )
        doomed = [f for f in files[: max(0, len(files) - keep)] if f != live]
        for file in doomed:
            self.remove_generation(file)
        return doomed

    def remove_generation(self, generation: Path) -> None:
        """Delete an unused generation file and its WAL companions."""
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{generation}{suffix}").unlink()

    def _relative(self, generation: Path) -> str:
        return os.path.relpath(generation, self.path.parent)


def _stamp(file: Path) -> int:
    head = file.stem.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

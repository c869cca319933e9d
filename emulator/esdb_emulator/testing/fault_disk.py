"""A disk that can be filled and freed, for the disk-full scenarios (F8).

Two mechanisms, the best one the machine allows:

- `tmpfs`: a small tmpfs mounted on a directory of the test (needs root and a kernel that
  lets this process mount; the sandbox and CI containers run as root). `fill()` writes a
  ballast file until the kernel answers ENOSPC, so SQLite gets a real "disk is full" from
  `write()`; `free()` deletes the ballast.
- `page-cap`: SQLite's own limit, `PRAGMA max_page_count`, on the connections the code
  under test opens (a plain directory; see the scenario's docstring for where the cap is
  applied). `fill()` caps each database at its current size, `free()` lifts the cap. The
  error is SQLite's SQLITE_FULL, the same code a full disk gives, but no file system
  ever runs out of space.

`open_disk()` tries tmpfs and falls back to the page cap, saying why in `reason`, so the
scenario always runs; each test prints which one ran.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BALLAST = "ballast.bin"
_CHUNK = 1 << 20


@dataclass
class Disk:
    """A directory on a disk that `fill()` makes full and `free()` frees."""

    path: Path
    mechanism: str
    """"tmpfs" or "page-cap"."""
    reason: str = ""
    """Why the page cap is used instead of tmpfs (empty for tmpfs)."""
    full: bool = field(default=False, init=False)

    def fill(self) -> None:
        """Make the disk full: no further page can be written."""
        self.full = True
        if self.mechanism != "tmpfs":
            return
        fd = os.open(self.path / BALLAST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (_CHUNK, 4096):  # big writes, then the last partial blocks
                block = bytes(size)
                try:
                    while True:
                        os.write(fd, block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)

    def free(self) -> None:
        """Give the space back."""
        self.full = False
        if self.mechanism == "tmpfs":
            (self.path / BALLAST).unlink(missing_ok=True)

    def available(self) -> int:
        """Bytes the file system still offers (tmpfs); -1 for the page cap."""
        if self.mechanism != "tmpfs":
            return -1
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def open_disk(path: Path, size_mb: int) -> Iterator[Disk]:
    """A `Disk` at `path` (created): a `size_mb` MiB tmpfs if this process may mount one,
    else a plain directory for the page cap. Unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    reason = _mount_tmpfs(path, size_mb)
    if reason:
        yield Disk(path, "page-cap", reason)
        return
    try:
        yield Disk(path, "tmpfs")
    finally:
        # Lazy: a child process that outlived its test must not leave the mount behind.
        umount = shutil.which("umount") or "/bin/umount"
        subprocess.run([umount, "-l", str(path)], check=False, capture_output=True)


def _mount_tmpfs(path: Path, size_mb: int) -> str:
    """Mount a tmpfs at `path`; "" on success, else why not."""
    if os.environ.get("FAULTS_NO_TMPFS"):
        return "FAULTS_NO_TMPFS is set"
    if os.geteuid() != 0:
        return "not running as root, so no tmpfs can be mounted"
    mount = shutil.which("mount")
    if mount is None:
        return "no mount command"
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}"
    return ""

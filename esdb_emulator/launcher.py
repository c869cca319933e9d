"""`EmulatorProcess`: run the emulator as a subprocess and hand back its URI.

For tests, benchmarks and the demo. Faults are real: `kill()` is SIGKILL, and
`restart()` brings the node back on the same port and database.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from esdb_emulator.cli import READY_PREFIX

_READY_URI = re.compile(re.escape(READY_PREFIX) + r" esdb://([^:/?]+):(\d+)")


class EmulatorStartError(RuntimeError):
    """The emulator process exited or stayed silent instead of becoming ready."""


class EmulatorProcess:
    """One emulator node in a child process.

    `port=0` lets the node pick a free port on first start; restarts reuse it.
    `db_path=None` runs in memory (a restart then starts empty). The node's log
    goes to `log_path` (a temporary file unless given).
    """

    def __init__(
        self,
        db_path: Path | None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        advertise_host: str | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        log_level: str = "warning",
        log_path: Path | None = None,
    ) -> None:
        self.db_path = db_path
        self.host = host
        self.port = port
        self.advertise_host = advertise_host
        self.synchronous = synchronous
        self.log_level = log_level
        self.log_path = log_path or Path(
            tempfile.mkstemp(prefix="esdb-emulator-", suffix=".log")[1]
        )
        self._process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        """The esdbclient connection URI (valid once started)."""
        if self.port == 0:
            raise RuntimeError("the emulator has not been started")
        return f"esdb://{self.host}:{self.port}?Tls=false"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        """Start the child and return once it prints its ready line.

        Raises EmulatorStartError (with the tail of its log) if it exits or is
        not ready within `timeout` seconds.
        """
        if self.is_running():
            raise RuntimeError("the emulator is already running")
        log_file = self.log_path.open("a")
        process = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log_file.close()
        self._process = process
        assert process.stdout is not None
        line = _read_line(process.stdout, deadline=time.monotonic() + timeout)
        match = _READY_URI.search(line or "")
        if match is None:
            self.kill()
            raise EmulatorStartError(
                f"emulator not ready within {timeout}s (got {line!r}); log tail:\n"
                + self.log_tail()
            )
        self.port = int(match.group(2))
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit code (None if not running)."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the node dies at once, as in a crash."""
        self._end(signal.SIGKILL, 15.0)

    def restart(self, timeout: float = 30.0) -> EmulatorProcess:
        """Stop if running, then start again on the same port and database."""
        if self.is_running():
            self.stop()
        return self._start_retrying_port(timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the node logged, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _start_retrying_port(self, timeout: float) -> EmulatorProcess:
        # The port of a killed node can take a moment to be bindable again.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.start(timeout=max(1.0, deadline - time.monotonic()))
            except EmulatorStartError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _end(self, signum: int, timeout: float) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signum)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return code

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "esdb_emulator", "--host", self.host]
        command += ["--port", str(self.port), "--log-level", self.log_level]
        command += ["--memory"] if self.db_path is None else ["--db", str(self.db_path)]
        if self.advertise_host:
            command += ["--advertise-host", self.advertise_host]
        if self.synchronous == "NORMAL":
            command.append("--unsafe-no-fsync")
        return command

    def __enter__(self) -> EmulatorProcess:
        return self if self.is_running() else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_line(stream: IO[str], deadline: float) -> str | None:
    """One line from `stream`, or None at EOF or when the deadline passes."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            return None
    return stream.readline() or None

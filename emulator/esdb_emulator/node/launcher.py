"""`EmulatorProcess`: run the emulator as a subprocess and hand back its URI.

For tests, benchmarks and the demo. Faults are real: `kill()` is SIGKILL, and
`restart()` brings the node back on the same port and database (and, when secure,
the same certificate).
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from esdb_emulator.node.auth import DEFAULT_PASSWORD, PASSWORD_ENV
from esdb_emulator.node.cli import READY_PREFIX
from esdb_emulator.node.server import node_uri
from esdb_emulator.node.tls import DEV_CERT_FILE

_READY_URI = re.compile(re.escape(READY_PREFIX) + r" esdb://([^:/?]+):(\d+)")


class EmulatorStartError(RuntimeError):
    """The emulator process exited or stayed silent instead of becoming ready."""


class EmulatorProcess:
    """One emulator node in a child process.

    `port=0` lets the node pick a free port on first start; restarts reuse it.
    `db_path=None` runs in memory (a restart then starts empty). The node's log
    goes to `log_path` (a temporary file unless given).

    Secure nodes: `tls=True` runs dev mode, with the self-signed certificate in
    `dev_cert_dir` (a temporary directory unless given); `tls_cert`/`tls_key` serve
    the operator's PEM files instead, trusted through `tls_ca_file` (default: the
    certificate itself, right for a self-signed one). `uri` then carries admin's
    credentials (`admin_password`, default the environment's or changeit) and the
    CA file. `insecure=True` passes `--insecure`, needed for a non-loopback `host`
    without TLS. `max_db_bytes` makes writes beyond that database size fail as on a
    full disk (fault tests; may be changed between restarts).
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
        tls: bool = False,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        tls_ca_file: Path | None = None,
        dev_cert_dir: Path | None = None,
        insecure: bool = False,
        admin_password: str | None = None,
        max_db_bytes: int | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if insecure and (tls or tls_cert is not None):
            raise ValueError("insecure=True contradicts tls")
        self.db_path = db_path
        self.host = host
        self.port = port
        self.advertise_host = advertise_host
        self.synchronous = synchronous
        self.max_db_bytes = max_db_bytes
        self.log_level = log_level
        self.log_path = log_path or Path(
            tempfile.mkstemp(prefix="esdb-emulator-", suffix=".log")[1]
        )
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.insecure = insecure
        self.secure = tls or tls_cert is not None
        self.admin_password = (
            admin_password or os.environ.get(PASSWORD_ENV["admin"]) or DEFAULT_PASSWORD
        )
        self._own_cert_dir = self.secure and tls_cert is None and dev_cert_dir is None
        if self._own_cert_dir:
            dev_cert_dir = Path(tempfile.mkdtemp(prefix="esdb-emulator-cert-"))
        self.dev_cert_dir = dev_cert_dir if tls_cert is None else None
        dev_cert = self.dev_cert_dir / DEV_CERT_FILE if self.dev_cert_dir else None
        self._ca_file = tls_ca_file or tls_cert or dev_cert
        self._process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        """The esdbclient connection URI (valid once started); with credentials if secure."""
        if self.port == 0:
            raise RuntimeError("the emulator has not been started")
        return node_uri(
            self.host,
            self.port,
            secure=self.secure,
            ca_file=self._ca_file,
            credentials=("admin", self.admin_password),
        )

    @property
    def ca_file(self) -> Path | None:
        """The certificate file a client trusts (None when insecure, or not known)."""
        return self._ca_file if self.secure else None

    @property
    def root_certificates(self) -> bytes | None:
        """The trusted certificate's PEM bytes, for esdbclient's `root_certificates`."""
        return self.ca_file.read_bytes() if self.ca_file is not None else None

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
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.secure:
            env[PASSWORD_ENV["admin"]] = self.admin_password
        process = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.PIPE,  # never written: its end tells the node we have gone
            text=True,
            env=env,
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
        for pipe in (process.stdout, process.stdin):
            if pipe is not None:
                pipe.close()
        return code

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "esdb_emulator", "--host", self.host]
        command += ["--port", str(self.port), "--log-level", self.log_level]
        command.append("--stop-on-stdin-eof")
        command += ["--memory"] if self.db_path is None else ["--db", str(self.db_path)]
        if self.advertise_host:
            command += ["--advertise-host", self.advertise_host]
        if self.synchronous == "NORMAL":
            command.append("--unsafe-no-fsync")
        if self.max_db_bytes is not None:
            command += ["--max-db-size", str(self.max_db_bytes)]
        if self.tls_cert is not None and self.tls_key is not None:
            command += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        elif self.secure:
            command += ["--dev", "--dev-cert-dir", str(self.dev_cert_dir)]
        if self.insecure:
            command.append("--insecure")
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
        if self._own_cert_dir and self.dev_cert_dir is not None:
            shutil.rmtree(self.dev_cert_dir, ignore_errors=True)


def _read_line(stream: IO[str], deadline: float) -> str | None:
    """One line from `stream`, or None at EOF or when the deadline passes."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            return None
    return stream.readline() or None

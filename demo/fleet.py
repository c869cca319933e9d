"""Worker processes (`projections run NAME`) started and stopped as a group.

For the demo, the benchmark and the scenario tests: each worker is a real child process
that can be stopped with SIGTERM (clean) or SIGKILL (a crash).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """One `projections run NAME --db PATH` child, logging (JSON) to `log_path`."""

    def __init__(
        self, uri: str, name: str, db: Path, log_path: Path, *extra: str, strategy: str = "Pinned"
    ) -> None:
        self.name = name
        self.command = [sys.executable, "-m", "projections", "--uri", uri, "run", name]
        self.command += ["--db", str(db), "--strategy", strategy, *extra]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._terminated = False

    def start(self) -> WorkerProcess:
        """Start (or restart) the child."""
        path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "ORDERS_LOG_FORMAT": "json"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._terminated = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
            )
        return self

    def kill(self) -> None:
        """SIGKILL: the worker dies wherever it is (mid-batch, before or after commit/ack)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self) -> None:
        """Send SIGTERM once (a second one could land while the interpreter shuts down)."""
        assert self.process is not None
        if not self._terminated and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait for the batch in hand to be committed and acked; the exit code."""
        assert self.process is not None
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def alive(self) -> bool:
        """True while the child runs."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_fleet(
    uri: str, names: Sequence[str], directory: Path, per_projection: int = 2
) -> list[WorkerProcess]:
    """`per_projection` workers for each projection, read models in `directory`."""
    return [
        WorkerProcess(
            uri, name, directory / f"{name}.db", directory / "logs" / f"{name}-{i}.log"
        ).start()
        for name in names
        for i in range(per_projection)
    ]


def stop_fleet(workers: Sequence[WorkerProcess]) -> list[int]:
    """SIGTERM every worker at once, then wait for each; their exit codes."""
    for worker in workers:
        worker.terminate()
    return [worker.stop() for worker in workers]

"""The console served from a background thread of this process (tests, benchmarks).

`ConsoleThread(config).start()` binds a free loopback port unless told otherwise, serves
with uvicorn in a daemon thread and returns once it accepts connections; `stop()` asks
uvicorn to finish and waits for the thread.
"""

from __future__ import annotations

import threading
import time

import uvicorn

from console.app import ConsoleConfig, create_app
from console.cli import bind, url_of


class ConsoleThread:
    """One uvicorn server for the console, in a daemon thread; a context manager."""

    def __init__(self, config: ConsoleConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._sock = bind(host, port)
        self.url = url_of(self._sock).rstrip("/")
        app = create_app(config)
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 20.0) -> ConsoleThread:
        """Start serving; raises RuntimeError if it is not up within `timeout` seconds."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (at most 20 s)."""
        self._server.should_exit = True
        self._thread.join(20)
        self._sock.close()

    def __enter__(self) -> ConsoleThread:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

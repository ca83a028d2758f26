"""A real HTTP receiver for webhook tests: records each POST, can be down, up or failing."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from tests.support.mosquitto import free_port


@dataclass(frozen=True)
class Received:
    """One POST as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """``http://127.0.0.1:PORT/hook``, listening from :meth:`start` until :meth:`stop`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.status = 200
        self.hold: threading.Event | None = None
        """While set to an unset event, each POST is recorded, then answered only once the
        event is set (a slow or hanging receiver)."""
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where the webhook should POST."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen on the port."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with outer._changed:
                    outer.received.append(Received(self.path, dict(self.headers.items()), body))
                    outer._changed.notify_all()
                hold = outer.hold
                if hold is not None:
                    hold.wait(timeout=30.0)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"receiver-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (connections are refused); the serving thread has ended on return."""
        if self._server is not None:
            self._server.shutdown()  # serve_forever returns
            self._server.server_close()  # the socket closes
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` POSTs; fails if they do not come in time."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"received {len(self.received)} of {count} webhooks")
            return list(self.received)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

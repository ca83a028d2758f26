"""Serving the API with uvicorn on a thread of ``bin-bridge run``.

uvicorn installs no signal handlers off the main thread, so ``bin-bridge run``'s own
SIGTERM handling stays in charge; :meth:`ApiServer.stop` asks the server to exit and
waits for it.

The listening socket is made here (to fail at once on a taken port), so it must be a
``IPPROTO_TCP`` socket with ``TCP_NODELAY``: asyncio turns Nagle's algorithm off only
on connections whose socket says ``proto == IPPROTO_TCP``, and one made by
``socket.create_server`` says 0. With Nagle on, a response written in two parts
(headers, then body) waits for the client's delayed ACK: 40 ms on every request.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import TokenTable
from cloud_bridge.api.context import Actions, ApiContext, ReaderPool
from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.errors import ApiError
from cloud_bridge.store.protocols import Store

logger = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` whose connections send without delay."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited on accept
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


class ApiServer:
    """A uvicorn server for ``app`` on its own thread."""

    def __init__(
        self, app: FastAPI, host: str, port: int, *, on_stop: ReaderPool | None = None
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._app = app
        self._port = port
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._readers = on_stop
        self.host = host

    def start(self, timeout: float = 10.0) -> None:
        """Bind the port (failing at once if it is taken), then serve on a thread."""
        try:
            sock = listen(self.host, self._port)
        except OSError as err:
            reason = err.strerror or str(err)
            raise ApiError(
                f"the API could not listen on {self.host}:{self._port}: {reason}"
            ) from None
        self._socket = sock
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="bridge-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ApiError(f"the API on {self.host}:{self.port} stopped at start (see the log)")
            if time.monotonic() > deadline:
                self._server.should_exit = True
                raise ApiError(f"the API did not start within {timeout} s")
            time.sleep(0.01)
        logger.info("API listening on http://%s:%d", self.host, self.port)

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose, for port 0)."""
        if self._socket is None:
            return self._port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests, end the long polls, finish what is in flight, close
        the readers."""
        context: ApiContext | None = getattr(self._app.state, "context", None)
        if context is not None:
            context.waits.wake_all()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
        if self._readers is not None:
            self._readers.close()


Extension = Callable[[FastAPI, Callable[[], Store], TokenTable], None]
"""What adds more routes to the API's app before it serves (the dashboard): given the
app, the function answering this thread's reader, and the token table."""


def serve_api(
    settings: BridgeSettings, actions: Actions, clock: Clock, *, extend: Extension | None = None
) -> ApiServer:
    """The API of a running bridge, not yet started: it reads from the database file
    and carries out actions through ``actions`` (the engine's writer).

    The start-up wiring (:mod:`cloud_bridge.runtime`) calls this beside the engine, so
    the engine never builds its own web server; it hands the dashboard in as
    ``extend``, so the API never imports it.
    """
    assert settings.api.port is not None
    tokens = TokenTable.from_settings(settings.api, os.environ)
    if not tokens:
        logger.warning("the API has no tokens configured: every /v1 request will get 401")
    readers = ReaderPool.sqlite(str(settings.store.path))
    context = ApiContext(
        settings=settings,
        readers=readers,
        actions=actions,
        clock=clock,
        tokens=tokens,
    )
    app = create_app(context)
    if extend is not None:
        extend(app, readers.get, tokens)
    return ApiServer(app, settings.api.host, settings.api.port, on_stop=readers)

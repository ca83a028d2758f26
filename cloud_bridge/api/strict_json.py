"""Request bodies are UTF-8 JSON, and every body that is not is the documented 422.

FastAPI parses a JSON body with ``json.loads`` on the raw bytes: a syntax error becomes
its 422 (``loc`` ``["body", offset]``), but bytes that are not UTF-8, or a body nested
too deeply for the parser, escape as an undocumented ``400 There was an error parsing
the body``; and a body in UTF-16 or UTF-32 is silently accepted, since ``json.loads``
guesses the encoding of bytes. :class:`StrictJsonRoute` reads the body as UTF-8 only
(RFC 8259 requires it between systems) and turns each of these into the same
``JSONDecodeError`` FastAPI already answers with a 422, naming the offset where the
body went wrong. Every router of the API uses it (``route_class=StrictJsonRoute``;
``tests/test_api.py`` checks that none is left out).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class StrictJsonRequest(Request):
    """A request whose JSON body must be UTF-8 JSON: anything else raises
    ``json.JSONDecodeError``, which FastAPI answers with its 422."""

    async def json(self) -> Any:
        """The body parsed as UTF-8 JSON (once; later calls return the same value)."""
        if not hasattr(self, "_json"):
            body = await self.body()
            text = body.decode("utf-8", "replace")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                raise json.JSONDecodeError(
                    f"the body is not UTF-8 ({err.reason})", text, err.start
                ) from None
            try:
                self._json = json.loads(text)
            except RecursionError:
                raise json.JSONDecodeError("the body is nested too deeply", text, 0) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """An API route that reads its body with :class:`StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given the strict request instead of Starlette's."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict

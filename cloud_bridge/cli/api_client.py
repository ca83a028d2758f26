"""A small HTTP client of the bridge's API, for the CLI's write commands.

Writes go through the running bridge (never behind its back into the database), so
the CLI calls the API with a token read from the environment, never from the command
line (where other users could see it in the process list).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import httpx

from cloud_bridge.errors import BridgeError
from protocol import format_ts

TOKEN_ENV = "REVLOOP_API_TOKEN"
URL_ENV = "REVLOOP_API_URL"


class ApiClientError(BridgeError, RuntimeError):
    """The API refused the request or could not be reached; the message says which.

    ``status`` is the HTTP status (None when the API could not be reached) and
    ``problems`` maps each body field a 422 named to its message, so a command can
    report a refused value as a usage error of the option that gave it.
    """

    def __init__(
        self, message: str, *, status: int | None = None, problems: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or {}


class ApiClient:
    """Calls the bridge's REST API with a bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    @classmethod
    def from_environment(cls, base_url: str | None, token_env: str = TOKEN_ENV) -> ApiClient:
        """A client for ``base_url`` (or ``$REVLOOP_API_URL``) with the token in ``token_env``."""
        url = base_url or os.environ.get(URL_ENV)
        if not url:
            raise ApiClientError(f"give --api URL or set {URL_ENV} (e.g. http://127.0.0.1:8080)")
        token = os.environ.get(token_env)
        if not token:
            raise ApiClientError(
                f"set {token_env} to an API token whose role may do this "
                "(scheduler or technician, or admin)"
            )
        return cls(url, token)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as err:
            raise ApiClientError(f"cannot reach the API at {self._http.base_url}: {err}") from None
        return _answer(response)

    def _get(self, path: str, params: dict[str, Any], timeout: float) -> Any:
        try:
            response = self._http.get(path, params=params, timeout=timeout)
        except httpx.HTTPError as err:
            raise ApiClientError(f"cannot reach the API at {self._http.base_url}: {err}") from None
        return _answer(response)

    def acknowledge(self, pickup_id: str) -> dict[str, Any]:
        """Acknowledge a pickup; return the updated pickup."""
        result: dict[str, Any] = self._post(f"/v1/pickups/{pickup_id}/acknowledge")
        return result

    def schedule(
        self, pickup_id: str, when: datetime, note: str | None, confirm: bool = False
    ) -> dict[str, Any]:
        """Schedule a pickup for ``when`` (after its due_by only with ``confirm``)."""
        body: dict[str, Any] = {"scheduled_for": format_ts(when)}
        if note is not None:
            body["note"] = note
        if confirm:
            body["confirm"] = True
        result: dict[str, Any] = self._post(f"/v1/pickups/{pickup_id}/schedule", body)
        return result

    def cancel(self, pickup_id: str, reason: str) -> dict[str, Any]:
        """Cancel a pickup."""
        result: dict[str, Any] = self._post(f"/v1/pickups/{pickup_id}/cancel", {"reason": reason})
        return result

    def retry_delivery(self, delivery_id: int) -> dict[str, Any]:
        """Retry a dead-lettered webhook delivery."""
        result: dict[str, Any] = self._post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
        return result

    def send_command(
        self, bin_id: str, name: str, args: dict[str, Any], ttl_s: float | None
    ) -> dict[str, Any]:
        """Send a command to a bin; return it as stored (status ``pending``)."""
        body: dict[str, Any] = {"name": name, "args": args}
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        result: dict[str, Any] = self._post(f"/v1/bins/{bin_id}/commands", body)
        return result

    def get_command(self, command_id: str, wait: float = 0.0) -> dict[str, Any]:
        """A command and its answer, waiting up to ``wait`` s (at most 30) while it is pending."""
        wait = max(0.0, min(wait, 30.0))
        result: dict[str, Any] = self._get(
            f"/v1/commands/{command_id}", {"wait": round(wait, 3)}, timeout=wait + 30.0
        )
        return result

    def push_config(
        self, config: dict[str, Any], *, bin_id: str | None, region: str | None
    ) -> dict[str, Any]:
        """Push a configuration overlay to one bin or a region; return what was pushed."""
        body: dict[str, Any] = {"config": config}
        if bin_id is not None:
            body["bin_id"] = bin_id
        if region is not None:
            body["region"] = region
        result: dict[str, Any] = self._post("/v1/config/push", body)
        return result


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ApiClientError(
            f"HTTP {response.status_code}: {_detail(response)}",
            status=response.status_code,
            problems=_problems(response),
        )
    return response.json()


def _problems(response: httpx.Response) -> dict[str, str]:
    """Field name to message, for each problem of a 422 that names a body field."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(detail, list):
        return {}
    return {
        str(item["loc"][1]): str(item.get("msg"))
        for item in detail
        if isinstance(item, dict) and len(item.get("loc", [])) > 1 and item["loc"][0] == "body"
    }


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:300]
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
        )
    return str(detail)

"""The web dashboard served beside the REST API (at ``/``, on ``api.port``).

The session key that signs the dashboard's cookies never lives in the file: the
settings name the environment variable that holds it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from cloud_bridge.config.base import DAY_S, EnvName, Section

TILE_URL_PATTERN = r"^https://[A-Za-z0-9.-]+(:[0-9]+)?/[^\s\"'<>]*\{z\}[^\s\"'<>]*$"
"""An https tile URL with ``{z}``, ``{x}`` and ``{y}`` placeholders."""


class WebSettings(Section):
    """The dashboard: whether it is served, its session key and lifetime, the map."""

    enabled: bool = Field(
        default=True, description="Serve the dashboard at / (the API stays under /v1)."
    )
    session_key_env: EnvName = Field(
        default="REVLOOP_WEB_SESSION_KEY",
        description="Environment variable holding the key that signs session cookies (at "
        "least 32 characters; unset: a key made per process, with a warning, so every "
        "session ends when the bridge restarts).",
    )
    session_ttl_s: float = Field(
        default=8 * 3600.0,
        ge=60.0,
        le=30 * DAY_S,
        description="How long a sign-in lasts.",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark cookies Secure (set it when a TLS proxy serves the dashboard; "
        "a request that arrives over https gets Secure cookies anyway).",
    )
    tile_url: Annotated[str, StringConstraints(pattern=TILE_URL_PATTERN)] | None = Field(
        default=None,
        description="Map tiles, as https://host/{z}/{x}/{y}.png (unset: the bins on a plain "
        "background with a scale bar; nothing is fetched from outside).",
    )
    tile_attribution: str = Field(
        default="", max_length=200, description="The tile provider's attribution line."
    )

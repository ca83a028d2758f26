"""The dashboard's session: a signed, expiring cookie that holds a token's digest.

The cookie holds the SHA-256 of the API token someone signed in with (never the token),
when the sign-in ends, and the session's CSRF token. It is signed with HMAC-SHA256 under
the session key, so nobody can forge or stretch one; every request looks the digest up
in the token table again, so removing a token from the settings ends its sessions.
A visitor who has not signed in gets an anonymous session (no digest) that carries
only a CSRF token, which the sign-in form must echo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud_bridge.errors import SettingsError

logger = logging.getLogger(__name__)

COOKIE = "revloop_session"
"""The session cookie's name."""

MIN_KEY_CHARS = 32
"""The shortest session key accepted from the environment."""


def session_key(env_name: str, environ: Mapping[str, str]) -> bytes:
    """The key that signs sessions, from ``environ[env_name]``.

    Unset, a random key is made for this process (with a warning): the demo needs no
    set-up, and sessions simply end when the bridge restarts. A key that is set but too
    short is an error, since it would be guessable.
    """
    value = environ.get(env_name)
    if not value:
        logger.warning(
            "%s is not set: the dashboard signs sessions with a key made for this process "
            "(every sign-in ends when the bridge restarts)",
            env_name,
        )
        return secrets.token_bytes(32)
    if len(value) < MIN_KEY_CHARS:
        raise SettingsError(
            "web",
            [f"web.session_key_env: {env_name} holds {len(value)} characters, "
             f"at least {MIN_KEY_CHARS} are needed"],
        )  # fmt: skip
    return value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Session:
    """What a session cookie says: whose token (its digest), until when, the CSRF token."""

    digest: str | None
    expires: datetime
    csrf: str

    @classmethod
    def anonymous(cls, now: datetime, ttl: timedelta) -> Session:
        """A fresh session for a visitor who has not signed in."""
        return cls(None, now + ttl, secrets.token_urlsafe(24))

    @classmethod
    def signed_in(cls, digest: str, now: datetime, ttl: timedelta) -> Session:
        """A fresh session after a sign-in (a new CSRF token: none seen before survives)."""
        return cls(digest, now + ttl, secrets.token_urlsafe(24))

    def csrf_matches(self, given: str | None) -> bool:
        """Whether a form's CSRF token is this session's, compared in constant time."""
        return given is not None and hmac.compare_digest(self.csrf, given)


class SessionSigner:
    """Turns sessions into cookie values and back, refusing forged or expired ones."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        """The cookie value: base64url JSON, a dot, its HMAC."""
        payload = {"d": session.digest, "e": int(session.expires.timestamp()), "c": session.csrf}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body.decode('ascii')}.{self._mac(body)}"

    def load(self, value: str | None, now: datetime) -> Session | None:
        """The session in ``value``, or None when it is missing, forged or expired."""
        if not value or "." not in value:
            return None
        body_text, mac = value.rsplit(".", 1)
        body = body_text.encode("ascii", "replace")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body))
            digest, stamp, csrf = payload["d"], int(payload["e"]), str(payload["c"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        expires = datetime.fromtimestamp(stamp, tz=now.tzinfo)
        if expires <= now or (digest is not None and not isinstance(digest, str)):
            return None
        return Session(digest, expires, csrf)

"""A paho client set up the one way both ends of the wire need it.

The bin (``agent``) and the bridge (``cloud_bridge.mqtt``) connect to the same broker
with the same habits: paho's version-2 callbacks, a persistent session (``clean_session``
off under MQTT 3.1.1, the session kept by the broker under MQTT 5), TLS verified
against the deployment's CA with an optional client certificate, and a user name and
password when the broker wants them. Each side then attaches its own callbacks.

Both ends also say *why* a connection failed, in the same words
(:func:`describe_connection_error`, :class:`ConnectFailures`): a wrong CA, a plain-text
port, an expired or revoked certificate, a host name the broker's certificate does not
name, a refused or unanswered connection. paho itself only reports that an attempt
failed.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class ClientSetupError(ValueError):
    """The client cannot be set up as configured; the message names the setting."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate files of a TLS connection, and the settings key they came from.

    ``key`` (for example ``broker.tls``) prefixes every error, so an operator knows
    which line of which file to fix.
    """

    key: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How one connection is set up: identity, protocol version, session, credentials."""

    client_id: str
    mqtt5: bool = False
    manual_ack: bool = False
    """Acknowledge received messages only when told (the bridge, after its commit)."""
    tls: TlsFiles | None = None
    """TLS with these files; ``None`` for a plain-text connection."""
    username: str | None = None
    password: str | None = None


def new_client(options: ClientOptions) -> mqtt.Client:
    """A paho client for ``options``, not yet connected and without callbacks.

    Raises :class:`ClientSetupError` naming the key when a certificate file is missing
    or unusable, instead of an ``OSError`` from deep inside ``ssl``.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=mqtt.MQTTv5 if options.mqtt5 else mqtt.MQTTv311,
        clean_session=None if options.mqtt5 else False,
        manual_ack=options.manual_ack,
    )
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.tls is not None:
        _set_tls(client, options.tls)
    return client


def _set_tls(client: mqtt.Client, tls: TlsFiles) -> None:
    files = {"ca_file": tls.ca_file, "cert_file": tls.cert_file, "key_file": tls.key_file}
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise ClientSetupError(f"{tls.key}.{name}: {path} does not exist")
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except (OSError, ssl.SSLError) as err:
        raise ClientSetupError(f"{tls.key}: cannot use the certificate files: {err}") from err


_NOT_OUR_CA = (
    "the broker's certificate is not signed by the CA in ca_file (a wrong CA file, or "
    "another broker)"
)
_VERIFY_REASONS = {
    2: _NOT_OUR_CA,
    9: "the broker's certificate is not valid yet (is this machine's clock right?)",
    10: "the broker's certificate has expired (or this machine's clock is far ahead)",
    18: _NOT_OUR_CA,
    19: _NOT_OUR_CA,
    20: _NOT_OUR_CA,
    21: _NOT_OUR_CA,
    23: "the broker's certificate is revoked",
    62: "the broker's certificate does not name the host connected to (check the broker "
    "address, or reissue it with that --host)",
    64: "the broker's certificate does not name the address connected to (check the broker "
    "address, or reissue it with that --host)",
}
"""OpenSSL's verification codes (``X509_V_ERR_*``) of the broker's certificate."""

_NOT_TLS = "the port does not speak TLS (a plain-text MQTT port?)"
_ALERT_REASONS = (
    (
        "CERTIFICATE_REVOKED",
        "the broker refused this client's certificate: it is revoked (issue a new one)",
    ),
    (
        "CERTIFICATE_EXPIRED",
        "the broker refused this client's certificate as expired (renew it, check this "
        "machine's clock), or the broker's revocation list has expired (bin-bridge pki crl)",
    ),
    (
        "UNKNOWN_CA",
        "the broker does not trust the CA of this client's certificate (cert_file is from "
        "another PKI)",
    ),
    (
        "CERTIFICATE_REQUIRED",
        "the broker wants a client certificate and none was given (cert_file, key_file)",
    ),
    ("BAD_CERTIFICATE", "the broker refused this client's certificate"),
    ("UNSUPPORTED_CERTIFICATE", "the broker refused this client's certificate"),
    ("CERTIFICATE_UNKNOWN", "the broker refused this client's certificate"),
    ("WRONG_VERSION_NUMBER", _NOT_TLS),
    ("PACKET_LENGTH_TOO_LONG", _NOT_TLS),
    ("RECORD_LAYER_FAILURE", _NOT_TLS),
    ("HTTP_REQUEST", _NOT_TLS),
    ("UNEXPECTED_EOF", "the broker closed the connection during the TLS handshake"),
)
"""OpenSSL reasons of a failed handshake, mostly the broker's alerts about our certificate
(TLS 1.3 checks the client's certificate after the client thinks the handshake is done)."""


def describe_connection_error(error: BaseException | None, *, handshake: bool = False) -> str:
    """One line saying why a connection attempt failed, in an operator's words.

    The technical detail (OpenSSL's reason, the errno) follows in brackets, so the line
    can still be searched for. ``None`` is a connection the broker closed without a
    word before accepting it. ``handshake`` says the error interrupted the TLS
    handshake: a port that hangs up on a TLS greeting is a plain-text one (Mosquitto
    closes the connection at once on bytes that are no MQTT packet).
    """
    if error is None:
        return "the broker closed the connection before accepting it"
    hung_up = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError)
    if handshake and isinstance(error, hung_up):
        return f"{_NOT_TLS} [hung up on the TLS greeting: {error.strerror or error}]"
    if isinstance(error, ssl.SSLCertVerificationError):
        code = getattr(error, "verify_code", None)
        message = getattr(error, "verify_message", None) or str(error)
        human = _VERIFY_REASONS.get(code or 0, "the broker's certificate was not accepted")
        return f"{human} [{message}]"
    if isinstance(error, ssl.SSLError):
        reason = str(getattr(error, "reason", None) or "")
        for marker, human in _ALERT_REASONS:
            if marker in reason:
                return f"{human} [{reason}]"
        if isinstance(error, ssl.SSLEOFError):
            return f"the broker closed the connection during the TLS handshake [{error}]"
        return f"the TLS handshake failed [{reason or error}]"
    return _describe_os_error(error)


def _describe_os_error(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return f"the broker's host name does not resolve [{error.strerror or error}]"
    if isinstance(error, TimeoutError):
        return f"no answer in time (a firewall, a wrong address or port) [{error or 'timeout'}]"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: nothing listens on that port (is the broker running?)"
    if isinstance(error, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return (
            "the broker hung up (a TLS port reached without TLS, or a client it refuses) "
            f"[{error.strerror or error}]"
        )
    if isinstance(error, OSError) and error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to the broker [{error.strerror}]"
    if isinstance(error, OSError) and error.strerror:
        return f"the connection failed [{error.strerror}]"
    return f"the connection failed [{type(error).__name__}: {error}]"


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """Why one connection attempt failed, and whether it is news."""

    reason: str
    repeated: bool
    """The attempt before failed for the same reason (log it quietly)."""

    @property
    def level(self) -> int:
        """The log level for it: a new reason is a warning, a repeated one only info."""
        return logging.INFO if self.repeated else logging.WARNING


class _ErrorTap(logging.Logger):
    """paho's logger, reduced to catching the exception of a failed socket read."""

    def __init__(self, sink: ConnectFailures) -> None:
        super().__init__("protocol.mqtt_client.paho", logging.ERROR)
        self._sink = sink

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            for arg in args:
                if isinstance(arg, OSError):
                    self._sink.caught(arg)


class ConnectFailures:
    """Says why the latest connection attempt of one paho client failed.

    paho does not hand the reason to its callbacks. An attempt that fails while
    connecting (refused, unresolved, timed out, the broker's certificate not accepted)
    raises inside paho's loop, which catches it and calls ``on_connect_fail`` from its
    ``except`` block: the exception is still the one being handled there, so
    :meth:`connect_failed` takes it from ``sys.exc_info()``. A certificate the broker
    refuses surfaces later: TLS 1.3 checks the client's certificate after the client
    finished its handshake, so the broker's alert arrives on the first read, which
    paho only logs before calling ``on_disconnect``; this object listens to paho's
    logger for it (:meth:`closed_early`). It takes over the client's logger and its
    ``on_pre_connect`` callback. ``tls`` says whether the client speaks TLS.
    """

    def __init__(self, client: mqtt.Client, *, tls: bool) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._caught: OSError | None = None
        self._refusal: str | None = None
        self._last: str | None = None
        client.enable_logger(_ErrorTap(self))
        client.on_pre_connect = self._attempt

    def _attempt(self, client: mqtt.Client, userdata: Any) -> None:
        with self._lock:
            self._caught = None
            self._refusal = None

    def caught(self, error: OSError) -> None:
        """paho logged a failed read or write (kept for :meth:`closed_early`)."""
        with self._lock:
            self._caught = error

    @property
    def last_reason(self) -> str | None:
        """Why the latest attempt failed; ``None`` once a connection was accepted."""
        with self._lock:
            return self._last

    def connect_failed(self) -> ConnectFailure:
        """The reason, called from ``on_connect_fail`` (inside paho's ``except`` block)."""
        handled = sys.exc_info()[1]
        if handled is not None:  # raised while connecting: TCP, then the TLS handshake
            return self._settle(describe_connection_error(handled, handshake=self._tls))
        with self._lock:
            error = self._caught
        return self._settle(describe_connection_error(error))

    def closed_early(self) -> ConnectFailure:
        """The reason, called from ``on_disconnect`` of an attempt that was never accepted."""
        with self._lock:
            error, refusal = self._caught, self._refusal
        if refusal is not None:  # the broker said why before it hung up
            return ConnectFailure(refusal, repeated=True)
        return self._settle(describe_connection_error(error))

    def refused(self, reason_code: ReasonCode) -> ConnectFailure:
        """The reason, when the broker answered the CONNECT with a refusal."""
        reason = f"the broker refused the connection: {reason_code.getName()}"
        with self._lock:
            self._refusal = reason
        return self._settle(reason)

    def connected(self) -> None:
        """A connection was accepted: the next failure is news again."""
        with self._lock:
            self._last = None

    def _settle(self, reason: str) -> ConnectFailure:
        with self._lock:
            repeated, self._last = self._last == reason, reason
        return ConnectFailure(reason, repeated)

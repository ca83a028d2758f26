"""The bin's client certificate must name the bin: checked before it connects.

The broker knows a bin by its certificate's common name (CN): the ACL lets it publish
only under ``bins/v1/{CN}/``. A bin configured as ``sim-0001`` that holds the
certificate of ``bin-0001`` connects fine, and then every message it publishes is
denied, which MQTT 3.1.1 cannot tell it: the broker acknowledges and drops them. So
the agent refuses to start (and ``bin-agent config validate`` fails) when the
certificate names another bin, with the settings key in the message.

The certificate is read with ``cryptography`` (a core dependency for this reason);
only the first certificate of the file counts, the client's own (a chain follows it).
"""

from __future__ import annotations

from pathlib import Path

from agent.errors import AgentError
from firmware_config.schema import Broker

KEY = "broker.tls.cert_file"


class CertificateMismatch(AgentError):
    """The client certificate cannot be read, or names another bin."""


def certificate_name(path: Path) -> str | None:
    """The subject common name (CN) of the first PEM certificate in ``path`` (None: none).

    Raises :class:`CertificateMismatch` naming the key when the file cannot be read or
    holds no PEM certificate.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        data = path.read_bytes()
    except OSError as err:
        raise CertificateMismatch(f"{KEY}: cannot read {path}: {err.strerror or err}") from err
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError as err:
        raise CertificateMismatch(f"{KEY}: {path} is not a PEM certificate ({err})") from err
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def check_certificate_name(broker: Broker, bin_id: str) -> Path | None:
    """Refuse a client certificate that does not name ``bin_id``; return the file checked.

    Nothing is checked without a ``cert_file`` (a broker that knows bins by user name
    and password). A missing file raises too: the agent could not connect with it.
    """
    path = broker.tls.cert_file
    if path is None:
        return None
    if not path.is_file():
        raise CertificateMismatch(f"{KEY}: {path} does not exist")
    name = certificate_name(path)
    if name is None:
        raise CertificateMismatch(
            f"{KEY}: certificate {path} names no common name (CN); it must be this bin's "
            f"id {bin_id!r}"
        )
    if name != bin_id:
        raise CertificateMismatch(
            f"{KEY}: certificate is for {name!r}, not this bin {bin_id!r} ({path}); the "
            "broker would drop everything this bin publishes"
        )
    return path

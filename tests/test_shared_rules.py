"""The rules both ends of the wire share: what an emptying is, and the paho set-up."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from protocol.emptying import is_emptying
from protocol.mqtt_client import ClientOptions, ClientSetupError, TlsFiles, new_client

FULL_SIZE = {"drop_pct": 30.0, "below_pct": 25.0}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (80.0, 5.0, True),  # a full-size fall to near empty
        (80.0, 30.0, False),  # fell far, but ends above below_pct
        (40.0, 15.0, False),  # 25 points: short of a full-size fall
        (20.0, 2.0, False),  # an early emptying is not a full-size fall
    ],
)
def test_full_size_falls_only_without_min_drop(before: float, after: float, expected: bool) -> None:
    assert is_emptying(before, after, **FULL_SIZE) is expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (20.0, 2.0, True),  # 18 points, leaves a tenth: an early emptying
        (20.0, 12.0, False),  # 8 points: under min_drop_pct, sensor noise territory
        (24.0, 13.0, False),  # 11 points but leaves more than half
        (80.0, 5.0, True),  # the full-size rule still holds
    ],
)
def test_small_falls_count_with_min_drop(before: float, after: float, expected: bool) -> None:
    assert is_emptying(before, after, **FULL_SIZE, min_drop_pct=10.0) is expected


def test_the_bin_the_bridge_and_the_forecast_share_one_rule() -> None:
    import agent.runtime.container
    import cloud_bridge.domain.forecast
    import cloud_bridge.services.pickups

    for module in (
        agent.runtime.container,
        cloud_bridge.services.pickups,
        cloud_bridge.domain.forecast,
    ):
        assert vars(module)["is_emptying"] is is_emptying, module.__name__


def test_client_is_persistent_session_with_version_2_callbacks() -> None:
    client = new_client(ClientOptions(client_id="bin-0001"))
    assert client._client_id == b"bin-0001"
    assert client._clean_session is False
    assert client._protocol == mqtt.MQTTv311
    v5 = new_client(ClientOptions(client_id="bin-0001", mqtt5=True))
    assert v5._protocol == mqtt.MQTTv5


def test_missing_certificate_file_names_its_key(tmp_path: Path) -> None:
    files = TlsFiles("broker.tls", ca_file=tmp_path / "missing-ca.pem")
    with pytest.raises(ClientSetupError, match=r"broker\.tls\.ca_file: .*missing-ca\.pem"):
        new_client(ClientOptions(client_id="bin-0001", tls=files))


def test_unusable_certificate_file_names_its_key(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with pytest.raises(ClientSetupError, match=r"^broker: cannot use the certificate files"):
        new_client(ClientOptions(client_id="bridge", tls=TlsFiles("broker", ca_file=ca)))

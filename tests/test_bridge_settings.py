"""Bridge settings: broker URLs, TOML files and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_bridge.config.broker import BrokerAddress, parse_broker_url
from cloud_bridge.config.settings import load_settings, validate_settings
from cloud_bridge.errors import BrokerUrlError, SettingsError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1884", BrokerAddress("127.0.0.1", 1884, False)),
        ("mqtts://broker.example.org:8884", BrokerAddress("broker.example.org", 8884, True)),
        ("mqtt://localhost", BrokerAddress("localhost", 1883, False)),
        ("MQTTS://broker", BrokerAddress("broker", 8883, True)),
        ("mqtt://[::1]:1883", BrokerAddress("::1", 1883, False)),
    ],
)
def test_broker_urls_parse(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://host:1883", "scheme 'http'"),
        ("host:1883", "scheme 'host'"),
        ("mqtt://:1883", "host is missing"),
        ("mqtt://host:port", "port 'port'"),
        ("mqtt://host:70000", "port '70000'"),
        ("mqtt://host:0", "port 0"),
        ("mqtt://user:secret@host:1883", "credentials"),
        ("mqtt://host:1883/path", "path"),
    ],
)
def test_bad_broker_urls_name_the_bad_part(url: str, named: str) -> None:
    with pytest.raises(BrokerUrlError, match=named):
        parse_broker_url(url)


def test_settings_load_from_toml_with_regions(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(
        """
default_region = "central"
[broker]
url = "mqtts://broker.example.org:8883"
username = "bridge"
password_env = "REVLOOP_TEST_MQTT_PASSWORD"
[store]
path = "data/bridge.db"
synchronous = "FULL"
[pickups]
due_hours = 12
[regions.north]
pickup_threshold_pct = 70
""",
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.broker.address == BrokerAddress("broker.example.org", 8883, True)
    assert settings.store.path == tmp_path / "data" / "bridge.db"
    assert settings.store.synchronous == "FULL"
    assert settings.region("north").pickup_threshold_pct == 70
    assert settings.region("north").due_hours == 12
    assert settings.region("central").pickup_threshold_pct == 80
    with pytest.raises(SettingsError, match="REVLOOP_TEST_MQTT_PASSWORD, which is not set"):
        settings.broker.password()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[broker]\nurl = 'ftp://x'\n", "broker.url: broker URL 'ftp://x': scheme 'ftp'"),
        (
            "[store]\nsynchronus = 'FULL'\n",
            "store.synchronus: unknown key; did you mean 'synchronous'",
        ),
        ("[pickups]\npickup_threshold_pct = 120\n", "pickups.pickup_threshold_pct"),
        (
            "[regions.north]\npickup_treshold_pct = 70\n",
            "regions.north.pickup_treshold_pct: unknown key; did you mean 'pickup_threshold_pct'",
        ),
        ("[regions.'no/slash']\ndue_hours = 1\n", "regions.no/slash"),
        ("[ingest]\nbatch_max = 'many'\n", "ingest.batch_max"),
        ("[broker\n", "(toml)"),
        (
            "[broker]\nbackoff_min_s = 30\nbackoff_max_s = 2\n",
            "broker: backoff_min_s (30.0) exceeds",
        ),
        (
            "[tickets.regions.north]\noffline_grace = 60\n",
            "tickets.regions.north.offline_grace: unknown key; did you mean 'offline_grace_s'",
        ),
        (
            "[tickets]\ndrift_reports = 0\n",
            "tickets.drift_reports: Input should be greater than or equal to 1",
        ),
        (
            "[commands]\ndefault_ttl_s = 600\nmax_ttl_s = 60\n",
            "commands: default_ttl_s (600.0) exceeds max_ttl_s (60.0)",
        ),
        (
            "[[webhooks]]\nname = 'a'\nurl = 'http://x'\nsecret_env = 'S'\nkinds = ['pikcup']\n",
            "webhooks.0.kinds.0",
        ),
    ],
)
def test_settings_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"absent\.toml"):
        load_settings(tmp_path / "absent.toml")


def test_the_settings_example_in_the_docs_is_valid(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "bridge.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("## Settings") :]
    start = section.index("```toml") + len("```toml")
    example = section[start : section.index("\n```", start)]
    path = tmp_path / "bridge.toml"
    path.write_text(example)
    settings = load_settings(path)
    assert settings.region("north").lead_time_hours == 36
    assert settings.region("south").lead_time_hours == 24
    assert settings.webhooks[0].wants("pickup", "north")
    assert not settings.webhooks[0].wants("pickup", "south")
    assert not settings.webhooks[0].wants("ticket", "north")
    assert settings.tickets.policy("south").offline_grace_s == 900
    assert settings.tickets.policy("north").offline_grace_s == 300
    assert settings.tickets.policy("south").drift_reports == 3
    assert settings.commands.result_grace_s == 30
    assert settings.routing.container_for("bin-0042") == 1100
    assert settings.api.tokens[0].digest() == (
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"api": {"tokens": [{"name": "a", "role": "boss", "sha256": "0" * 64}]}},
         "api.tokens.0.role"),
        ({"api": {"tokens": [{"name": "a", "role": "admin"}]}}, "exactly one of sha256 and env"),
        ({"api": {"tokens": [{"name": "a", "role": "admin", "sha256": "plain"}]}}, "sha256"),
        ({"webhooks": [{"name": "x", "url": "ftp://h/", "secret_env": "S"}]}, "webhooks.0.url"),
        ({"webhooks": [{"name": "x", "url": "http://h/", "secret_env": "S"},
                       {"name": "x", "url": "http://g/", "secret_env": "S"}]}, "repeated: x"),
        ({"delivery": {"backoff_min_s": 10, "backoff_max_s": 5}}, "backoff_min_s"),
        ({"routing": {"regions": {"north": {"vehicles": 2}}}}, "routing.regions.north.depot"),
        ({"pickups": {"lead_time_hour": 3}}, "did you mean 'lead_time_hours'"),
    ],
)  # fmt: skip
def test_service_settings_errors_name_the_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        validate_settings(data)

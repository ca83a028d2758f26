"""``bin-bridge`` for facilities: intake, dispose and stock through a real API server;
intakes, traces, inventory and the impact report read from the database; bad values
refused in one line naming the option or field, with nothing recorded."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloud_bridge.api.app import create_app
from cloud_bridge.api.server import ApiServer
from cloud_bridge.cli.main import cli
from tests.test_facility_api import Harness

CONFIG = """
[store]
path = "bridge.db"

[facilities]
tolerance_pct = 10
tolerance_kg = 1
currency = "EUR"
[facilities.prices.glass]
reuse = 0.4
[[facilities.sites]]
id = "mrf-north"
name = "North materials recovery facility"
location = { lat = 52.60, lon = 13.40 }
regions = ["north"]
"""


class Served(Harness):
    """The API harness served over HTTP, with a settings file beside its database."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.config = tmp_path / "bridge.toml"
        self.config.write_text(CONFIG)
        self.db = tmp_path / "bridge.db"
        self.server = ApiServer(create_app(self.context), "127.0.0.1", 0)
        self.server.start()

    def run(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.output


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("REVLOOP_API_TOKEN", "fac-token")
    made = Served(tmp_path)
    try:
        yield made
    finally:
        made.server.stop()
        made.readers.close()
        made.store.close()


def test_a_load_is_recorded_decided_and_reported_from_the_command_line(served: Served) -> None:
    s, api = served, served.server.url
    code, out = s.run(
        "intake", "record", "--facility", "mrf-north",
        "--pickup", s.first, "--pickup", f"{s.second}=0.5",
        "--kg", "glass=7.6", "--count", "glass=19", "--contaminated", "glass=0.3",
        "--kg", "metal=1", "--distance-km", "14.5", "--api", api, "--json",
    )  # fmt: skip
    assert code == 0, out
    row = json.loads(out)
    glass = next(line for line in row["lines"] if line["category"] == "glass")
    assert (glass["declared_kg"], glass["received_kg"], glass["received_count"]) == (7.5, 7.6, 19)
    assert (row["distance_km"], row["distance_estimated"]) == (14.5, False)
    lot = row["intake_id"]
    code, out = s.run("intake", "dispose", lot, "--category", "glass", "--as", "reuse",
                      "--kg", "2", "--count", "4", "--restock", "--api", api)  # fmt: skip
    assert code == 0, out
    assert "-> reuse" in out
    assert "restocked" in out
    code, out = s.run("inventory", "move", "mrf-north", "--category", "glass", "--kg", "-0.5",
                      "--api", api)  # fmt: skip
    assert code == 0, out
    assert "-0.5 kg glass (issue)" in out
    db = ["--db", str(s.db)]
    code, out = s.run("intakes", *db, "--json")
    assert [r["intake_id"] for r in json.loads(out)] == [lot]
    code, out = s.run("intake", "show", lot, "--config", str(s.config))
    assert code == 0, out
    assert lot in out
    assert "reuse" in out
    code, out = s.run("inventory", *db, "--json")
    assert json.loads(out) == [
        {"facility_id": "mrf-north", "category": "glass", "kg": 1.5, "count": 4}
    ]
    code, out = s.run("trace", "pickup", s.second, *db)
    trace = json.loads(out)
    assert (trace["received_share"], trace["intakes"][0]["share"]) == (0.5, 0.5)
    code, out = s.run("trace", "deposit", "bin-001", "2", *db)
    assert json.loads(out)["pickup"]["pickup_id"] == s.first
    code, out = s.run("trace", "bin", "bin-001", *db)
    assert json.loads(out)["pickups"][0]["pickup_id"] == s.first
    code, out = s.run("trace", "intake", lot, *db)
    assert [b["bin_id"] for b in json.loads(out)["bins"]] == ["bin-001", "bin-002"]
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    code, out = s.run("report", "impact", *period, "--config", str(s.config), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["totals"]["kg_received"] == 8.6
    assert report["totals"]["value"] == 0.8
    assert report["km_driven"] == 14.5
    code, out = s.run("report", "impact", *period, *db, "--csv", "--region", "north")
    rows = list(csv.DictReader(io.StringIO(out.split("\n", 1)[1])))
    assert [r["material"] for r in rows] == ["glass", "metal", "plastic", "total"]
    page = s.db.parent / "impact.html"
    code, out = s.run("report", "impact", *period, *db, "--html", str(page))
    assert code == 0, out
    assert "<svg" in page.read_text()
    code, out = s.run("report", "impact", *period, *db)
    assert "diversion rate" in out
    code, out = s.run("facilities", "--config", str(s.config))
    assert out.startswith("mrf-north: North materials recovery facility")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kg", "glass=-3"], "bin-bridge: --kg glass: must be a finite number >= 0, not -3"),
        (["--kg", "glass=nan"], "bin-bridge: --kg glass: must be a finite number >= 0, not nan"),
        (["--kg", "glass=inf"], "bin-bridge: --kg glass: must be a finite number >= 0, not inf"),
        (["--kg", "wood=1"], "bin-bridge: --kg wood: unknown category; one of cardboard"),
        (["--kg", "glass=1", "--contaminated", "glass=-1"],
         "bin-bridge: --contaminated glass: must be a finite number >= 0"),
        (["--kg", "glass=1", "--pickup-share", "1.5"],
         "bin-bridge: --pickup {first}: the share must be in (0, 1], not 1.5"),
        (["--kg", "glass=1", "--facility", "nowhere"],
         "bin-bridge: HTTP 404: no facility 'nowhere'"),
        (["--kg", "glass=1", "--pickup", "pk-404"], "bin-bridge: HTTP 404: no pickup 'pk-404'"),
        (["--kg", "glass=1", "--pickup", "{open}"], "bin-bridge: HTTP 409: pickup {open} is"),
        (["--kg", "glass=1", "--received-at", "2030-01-01T00:00:00Z"],
         "bin-bridge: HTTP 422: received_at: received_at 2030-01-01T00:00:00.000Z is in the"),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_naming_the_field_and_record_nothing(
    served: Served, args: list[str], message: str
) -> None:
    s = served
    ids = {"first": s.first, "open": s.open}
    facility = ["--facility", "mrf-north"]
    pickup = ["--pickup", s.first]
    rest: list[str] = []
    args = [a.format(**ids) for a in args]
    message = message.format(**ids)
    if "--facility" in args:
        facility = []
    if "--pickup" in args:
        pickup = []
    if "--pickup-share" in args:
        index = args.index("--pickup-share")
        pickup = ["--pickup", f"{s.first}={args[index + 1]}"]
        args = args[:index] + args[index + 2 :]
    before = s.snapshot()
    code, out = s.run("intake", "record", *facility, *pickup, *args, *rest,
                      "--api", s.server.url)  # fmt: skip
    assert code == 1, out
    assert out.count("\n") == 1, out
    assert out.startswith(message), out
    assert s.snapshot() == before


def test_a_pickup_received_twice_is_refused_in_one_line(served: Served) -> None:
    s = served
    args = ["intake", "record", "--facility", "mrf-north", "--pickup", s.third,
            "--kg", "glass=2", "--api", s.server.url]  # fmt: skip
    assert s.run(*args)[0] == 0
    code, out = s.run(*args)
    assert (code, out) == (1, f"bin-bridge: HTTP 409: pickup {s.third} was received already\n")

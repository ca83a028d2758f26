"""CSV exports: text a bin or a user supplied never reaches a spreadsheet as a formula.

Deposit ids, reject reasons and model names come from bins, a cancel reason from a
scheduler; each is written so that a spreadsheet shows it as text (OWASP: a leading
single quote before ``=``, ``+``, ``-``, ``@``, tab and carriage return), while the
numeric columns stay numbers.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.views.exports import (
    DEPOSIT_COLUMNS,
    PICKUP_COLUMNS,
    cell,
    deposits_csv,
    pickups_csv,
)
from tests.support import bin_messages as msg
from tests.support.bridge_fixtures import FakeNow

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\tTAB", "\rCR"]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_that_starts_like_a_formula_is_quoted(text: str) -> None:
    assert cell(text) == "'" + text


@pytest.mark.parametrize("text", ["glass", "bin-001", "low confidence", "", "a=b", "3-2"])
def test_other_text_is_kept_as_it_is(text: str) -> None:
    assert cell(text) == text
    assert cell(None) == ""


def _deposit(seq: int, text: str) -> Inbound:
    topic, payload = msg.deposit("bin-001", seq, accepted=False)
    data = json.loads(payload)
    data.update(deposit_id=text, reason=text, model=text)
    return Inbound(topic, json.dumps(data).encode())


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_every_text_column_a_bin_or_a_user_supplies_is_neutralised(
    store: SQLiteStore, clock: FakeNow
) -> None:
    processor = Processor(validate_settings({}), store, clock)
    location = {"lat": -33.9, "lon": -70.6}
    topic, birth = msg.state("bin-001", 1, region="north")
    birth_data = {**json.loads(birth), "location": location}
    batch = [Inbound(topic, json.dumps(birth_data).encode())]
    batch += [_deposit(2 + index, text) for index, text in enumerate(HOSTILE)]
    batch.append(Inbound(*msg.telemetry("bin-001", 20, 91.0)))
    outcome = processor.process(batch)
    assert outcome.stored == len(HOSTILE) + 2
    assert not outcome.rejected
    (pickup,) = store.list_pickups(open_only=True)
    processor.act(lambda pickups: pickups.cancel(pickup.pickup_id, "=cmd|' /C calc'!A0", "x"))

    deposits = _rows(deposits_csv(store.list_deposits()))
    assert list(deposits[0]) == DEPOSIT_COLUMNS
    assert [row["deposit_id"] for row in deposits] == ["'" + text for text in HOSTILE]
    for row in deposits:
        assert row["reason"] == row["model"] == row["deposit_id"]
        assert row["weight_g"] == "250"  # a number, unquoted
    (exported,) = _rows(pickups_csv(store.list_pickups()))
    assert list(exported) == PICKUP_COLUMNS
    assert exported["cancel_reason"] == "'=cmd|' /C calc'!A0"
    assert (exported["lat"], exported["lon"]) == ("-33.9", "-70.6")  # numbers stay numbers
    assert exported["fill_pct"] == "91"

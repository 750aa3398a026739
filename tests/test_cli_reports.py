"""smsgate status and smsgate report, as an operator runs them against the store."""

from __future__ import annotations

import json
import time

import pytest

from smsgate.domain.records import NewMessage, new_message_id, now_ms
from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from tests.conftest import World
from tests.live import smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes


def seed(world: World) -> list[str]:
    at = now_ms()
    cands = [NewMessage(new_message_id(at), world.sign_id, f"+861380013800{i}", "+86", "【阿克米】x", 1, None, None)
             for i in range(3)]
    world.store.commit_batch(world.project_id, "req", "2026-11-25", 10, cands)
    delivery = DeliveryStore(world.store.db)
    delivery.claim(at, 10, 60_000)
    delivery.record_parts([PartSubmitted(cands[0].id, 1, 1, "sim", "A1", at)])
    delivery.apply_receipts([Receipt("sim", "a1", "DELIVRD", "000", at + 1000)], at)
    return [c.id for c in cands]


def test_status_shows_a_message_and_its_parts(world: World) -> None:
    ids = seed(world)
    out = json.loads(smsgate("status", ids[0], "--json", data_dir=world.settings.data_dir).stdout)
    assert (out["state"], out["status_desc"]) == ("DELIVERED", "DELIVRD")
    assert out["parts"][0]["carrier_id"] == "A1" and out["parts"][0]["stat"] == "DELIVRD"
    human = smsgate("status", ids[0].upper(), data_dir=world.settings.data_dir).stdout  # a copied id
    assert "DELIVERED" in human and "A1" in human
    assert "+86138****8000" in human and "13800138000" not in human and "None" not in human
    missing = smsgate("status", "f" * 32, data_dir=world.settings.data_dir, check=False)
    assert missing.returncode != 0 and "SMN.0102" in missing.stderr


def test_a_mistyped_data_dir_is_an_error_not_a_new_empty_store(world: World, tmp_path) -> None:
    nowhere = tmp_path / "typo"
    for args in (("status", "f" * 32), ("report",)):
        done = smsgate(*args, data_dir=nowhere, check=False)
        assert done.returncode == 1 and "no store at" in done.stderr and "Traceback" not in done.stderr
    assert not nowhere.exists()
    far = smsgate("report", "--since", "99999999999d", data_dir=world.settings.data_dir, check=False)
    assert far.returncode == 0, far.stderr  # from the beginning of time


def test_report_counts_by_state_and_masks_numbers(world: World) -> None:
    seed(world)
    out = json.loads(smsgate("report", "--since", "1h", "--json", data_dir=world.settings.data_dir).stdout)
    assert out["counts"] == {"DELIVERED": 1, "SENDING": 2}
    assert out["since_ms"] <= time.time() * 1000
    human = smsgate("report", "--since", "30m", data_dir=world.settings.data_dir).stdout
    assert "DELIVERED" in human and "****" in human and "13800138000" not in human
    other = json.loads(smsgate("report", "--project", "nobody", "--json", data_dir=world.settings.data_dir).stdout)
    assert other["counts"] == {}
    bad = smsgate("report", "--since", "yesterday", data_dir=world.settings.data_dir, check=False)
    assert bad.returncode != 0 and "--since" in bad.stderr

"""International recipients through the real app (issue 13): an English text to a UK number is
one part, and the dry run says per recipient how it is encoded and when it will be sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from smsgate.domain.records import SignStatus, SignType
from tests.conftest import World

NY = ZoneInfo("America/New_York")
ENGLISH = "Winter sale: 50% off all coats this weekend only, in all our shops and online. Reply STOP to opt out"


def gsm_sign(world: World) -> str:
    sign = world.store.create_sign(world.project_id, "Acme", SignType.PROMOTIONAL)
    world.store.set_sign_status(world.project_id, sign.id, SignStatus.APPROVED)
    return sign.id


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_opening(hour: int, zone: ZoneInfo, now: datetime) -> datetime:
    local = now.astimezone(zone)
    opening = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    return opening if opening > local else opening + timedelta(days=1)


def test_an_english_text_to_a_uk_number_is_one_part(client: TestClient, world: World) -> None:
    sign_id = gsm_sign(world)
    assert len(ENGLISH) == 100
    items = [{"endpoint": "+447911123456", "message": ENGLISH, "sign_id": sign_id},
             {"endpoint": "13800138000", "message": ENGLISH, "sign_id": sign_id}]
    r = client.post(world.promotion_path, json={"sms_message": items})
    assert r.status_code == 200, r.text
    uk, cn = (world.store.message(res["message_id"]) for res in r.json()["result"])
    assert (uk["text"], uk["fee_num"]) == ("[Acme] " + ENGLISH, 1)
    assert (cn["text"], cn["fee_num"]) == ("【Acme】" + ENGLISH, 2)
    report = client.get(f"/v2/{world.project_id}/notifications/sms/report",
                        params={"mobile": "+447911123456"}).json()
    assert report["data"][0]["fee_num"] == 1


def test_the_dry_run_shows_parts_encoding_and_when_each_recipient_is_sent_to(
    client: TestClient, world: World,
) -> None:
    sign_id = gsm_sign(world)
    now = datetime.now(UTC)
    hour = (now.astimezone(NY).hour + 2) % 24  # one hour, two hours from now in New York: closed
    world.store.update_project(world.project_id, send_window=f"{hour:02d}:00-{hour + 1:02d}:00")
    items = [{"endpoint": "+12125551234", "message": ENGLISH, "sign_id": sign_id},
             {"endpoint": "13800138000", "message": ENGLISH, "sign_id": sign_id},
             {"endpoint": "+447911123456", "message": "Sale! STOP to end", "sign_id": sign_id},
             {"endpoint": "13800138001", "message": "Sale! STOP to end", "sign_id": sign_id}]
    r = client.post(world.promotion_path, params={"dry_run": "true"}, json={"sms_message": items})
    assert r.status_code == 200, r.text
    us, cn, uk, refused = r.json()["result"]
    assert us == {"endpoint": "+12125551234", "message_id": None, "fee_num": 1, "encoding": "gsm7",
                  "send": "held", "held_until": iso(next_opening(hour, NY, now))}
    # the mainland number: the same window, in the service's zone (Asia/Shanghai), is closed too
    assert cn == {"endpoint": "13800138000", "message_id": None, "fee_num": 2, "encoding": "ucs2",
                  "send": "held", "held_until": iso(next_opening(hour, world.settings.zone, now))}
    assert us["held_until"] != cn["held_until"]
    assert (uk["fee_num"], uk["encoding"]) == (1, "gsm7")  # "STOP to end" counts abroad...
    assert refused["code"] == "SMN.0204"  # ...not for a mainland number
    assert world.store.count_messages() == 0

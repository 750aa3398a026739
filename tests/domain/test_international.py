"""International recipients (issue 13): the signature and encoding a recipient abroad gets, the
sending window in the recipient's time zones, English unsubscribe forms and opt-out replies."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from smsgate.api.schemas import SmsMessage
from smsgate.domain import accept, errors, segments, zones
from smsgate.domain.records import Sign, SignStatus, SignType
from smsgate.domain.replies import is_opt_out
from smsgate.domain.sensitive import default_lexicon
from smsgate.domain.signatures import signed_text
from smsgate.domain.unsubscribe import accepts_english, has_unsubscribe
from smsgate.domain.window import SendWindow

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
UK = "+447911123456"
US = "+12125551234"  # New York
RU = "+79161234567"  # a Russian mobile: phonenumbers gives it zones from Europe to Kamchatka
CN = "+8613800138000"
ACME = Sign("a" * 32, "p", "Acme", SignType.PROMOTIONAL, SignStatus.APPROVED, "", 0)
AKEMI = Sign("b" * 32, "p", "阿克米", SignType.PROMOTIONAL, SignStatus.APPROVED, "", 0)
RULES = accept.ProjectRules({s.id: s for s in (ACME, AKEMI)}, {s.name: s for s in (ACME, AKEMI)},
                            default_lexicon())
STOP = " Reply STOP to opt out"
WINDOW = SendWindow.parse("08:00-20:00")


def send(endpoint: str, body: str, sign: Sign = ACME):
    return accept.check(SmsMessage(endpoint, body, sign_id=sign.id), RULES, 0)


def english(length: int) -> str:
    """A plain English promotion of ``length`` characters ending with the unsubscribe text."""
    return ("Winter sale: 50% off all coats this weekend only. " * 10)[: length - len(STOP)] + STOP


# --- the signature and the encoding --------------------------------------------------------


def test_an_english_text_to_a_uk_number_is_one_gsm7_part() -> None:
    body = english(100)
    sent = send(UK, body)
    assert sent.text == "[Acme] " + body
    assert sent.fee_num == 1 and segments.segment(sent.text).encoding == "gsm7"


def test_a_mainland_number_keeps_the_chinese_brackets_and_pays_for_them() -> None:
    body = english(100)
    sent = send(CN, body)
    assert sent.text == "【Acme】" + body
    assert sent.fee_num == 2 and segments.segment(sent.text).encoding == "ucs2"


def test_a_signature_the_sender_wrote_is_rewritten_for_a_recipient_abroad() -> None:
    body = english(100)
    sent = accept.check(SmsMessage(UK, "【Acme】" + body, message_include_sign_flag=True), RULES, 0)
    assert sent.text == "[Acme] " + body and sent.fee_num == 1
    home = accept.check(SmsMessage(CN, "【Acme】" + body, message_include_sign_flag=True), RULES, 0)
    assert home.text == "【Acme】" + body


def test_a_name_outside_gsm7_keeps_its_brackets_abroad_and_the_text_goes_ucs2() -> None:
    assert signed_text("阿克米", "Hi", mainland=False) == "【阿克米】Hi"
    sent = send(UK, english(100), AKEMI)
    assert sent.text.startswith("【阿克米】") and sent.fee_num == 2
    assert segments.segment(sent.text).encoding == "ucs2"


@pytest.mark.parametrize(("euros", "parts"), [(5, 1), (6, 2)])
def test_extension_characters_count_twice(euros: int, parts: int) -> None:
    # "[Acme] " is 7 characters but 9 septets ([ and ] are extension characters too)
    body = "€" * euros + english(140)  # 153 characters with 6: fits 160, but 161 septets
    sent = send(UK, body)
    assert len(sent.text) <= 160
    assert len(segments.encode_gsm7(sent.text)) == 9 + 140 + 2 * euros
    assert sent.fee_num == parts == segments.segment(sent.text).fee_num


def test_a_161_septet_text_is_two_parts_the_first_of_153() -> None:
    sent = send(UK, english(152))  # 9 septets of signature + 152
    assert len(segments.encode_gsm7(sent.text)) == 161 and sent.fee_num == 2
    first, second = segments.segment(sent.text).parts
    assert len(segments.encode_gsm7(first)) == 153 and first + second == sent.text


def test_one_text_to_both_sides_of_the_border_in_one_batch() -> None:
    items = [SmsMessage(CN, english(100), sign_id=ACME.id), SmsMessage(UK, english(100), sign_id=ACME.id)]
    home, abroad = accept.screen(items, RULES, 0)
    assert (home.fee_num, abroad.fee_num) == (2, 1)


# --- the sending window in the recipient's time --------------------------------------------


def next_eight_in_new_york(now: datetime) -> datetime:
    """08:00 in New York at or after ``now``, from zoneinfo alone."""
    local = now.astimezone(NY)
    opening = datetime.combine(local.date(), time(8), NY)
    return opening if opening >= local else datetime.combine(local.date() + timedelta(days=1), time(8), NY)


@pytest.mark.parametrize("day", [datetime(2026, 12, 3), datetime(2026, 7, 15)])  # EST and EDT
def test_a_us_number_accepted_at_ten_beijing_time_waits_for_eight_in_new_york(day: datetime) -> None:
    ten_beijing = day.replace(hour=10, tzinfo=SH)
    assert zones.zones_for(US, SH) == (NY,)
    opens = WINDOW.opens(ten_beijing, zones.zones_for(US, SH))
    assert opens == next_eight_in_new_york(ten_beijing) and opens > ten_beijing
    assert opens.astimezone(NY).time() == time(8)
    assert WINDOW.opens(ten_beijing, zones.zones_for(CN, SH)) == ten_beijing  # mainland: at once


def test_mainland_numbers_keep_the_configured_zone() -> None:
    utc = ZoneInfo("UTC")
    assert zones.zones_for(CN, utc) == (utc,)
    assert zones.is_mainland(CN) and not zones.is_mainland(US)


def all_open(window: SendWindow, at: datetime, spans: tuple[ZoneInfo, ...]) -> int:
    return sum(window.is_open(at.astimezone(z).time()) for z in spans)


def test_a_number_spanning_zones_waits_until_the_window_is_open_in_all_of_them() -> None:
    spans = zones.zones_for(RU, SH)
    assert {ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Kamchatka")} <= set(spans)
    noon_moscow = datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))  # 21:00 Kamchatka
    opens = WINDOW.opens(noon_moscow, spans)
    assert opens > noon_moscow and all_open(WINDOW, opens, spans) == len(spans)
    # and not a minute later than it must: the minute before, some zone was still closed
    assert all_open(WINDOW, opens - timedelta(minutes=1), spans) < len(spans)
    assert WINDOW.opens(opens, spans) == opens


def test_zones_too_far_apart_for_one_common_moment_wait_for_the_most_of_them() -> None:
    window = SendWindow.parse("09:00-12:00")  # 3 hours; a Russian number spans 10
    spans = zones.zones_for(RU, SH)
    now = datetime(2026, 12, 3, 0, 0, tzinfo=ZoneInfo("UTC"))
    opens = window.opens(now, spans)
    steps = [now + timedelta(minutes=15 * i) for i in range(4 * 48)]  # every opening lies on one
    counts = [all_open(window, at, spans) for at in steps]
    assert max(counts) < len(spans)  # no moment has them all
    assert opens == steps[counts.index(max(counts))]  # the first moment with the most


# --- unsubscribe instructions --------------------------------------------------------------


@pytest.mark.parametrize("tail", [
    "STOP to end", "Reply STOP to cancel.", "Text STOP to 12345 to opt out", "To opt out, reply STOP",
    "Unsubscribe: text STOP", "reply \"STOP\" to unsubscribe!", "Reply QUIT to stop receiving messages",
    "Txt END to end", "Reply STOP=opt out",
])
def test_english_unsubscribe_forms_count_abroad_but_not_at_home(tail: str) -> None:
    body = f"Winter sale: 50% off coats. {tail}"
    assert send(UK, body).fee_num == 1
    with pytest.raises(errors.UnsubscribeMissing):
        send(CN, body)


def test_english_forms_do_not_count_in_a_chinese_text_even_abroad() -> None:
    with pytest.raises(errors.UnsubscribeMissing):
        send(UK, "冬季大促，全场五折 STOP to end")
    assert not accepts_english("冬季大促", mainland=False) and accepts_english("Sale", mainland=False)
    assert not accepts_english("Sale", mainland=True)


@pytest.mark.parametrize("text", ["STOP to end now", "Reply STOP", "Call us to end the day", "NONSTOP to end"])
def test_what_is_not_an_english_instruction(text: str) -> None:
    assert not has_unsubscribe(text, english=True)


def test_the_chinese_forms_and_reply_stop_still_count_everywhere() -> None:
    assert send(CN, f"Sale{STOP}").text == f"【Acme】Sale{STOP}"
    assert send(UK, "冬季大促，全场五折，拒收请回复R").text.startswith("[Acme] ")


# --- replies that opt out ------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["STOP", "stop", "Unsubscribe", "CANCEL", "end", " Quit ", "ＳＴＯＰ",
                                   "TD", "退订", "r"])
def test_opt_out_replies(reply: str) -> None:
    assert is_opt_out(reply)


@pytest.mark.parametrize("reply", ["stop it", "don't stop", "yes", "END?", "好的"])
def test_other_replies_do_not_opt_out(reply: str) -> None:
    assert not is_opt_out(reply)

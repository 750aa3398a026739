"""One signature, really (SPEC §5): no second or disguised signature anywhere in a text, and no
invisible format character in what is sent.  The rules run on plain values (``accept.check``);
``tests/api/test_promotion.py`` checks the same through the API."""

from __future__ import annotations

import pytest

from smsgate.api.schemas import SmsMessage
from smsgate.domain import accept, errors, segments
from smsgate.domain.invisible import strip_format
from smsgate.domain.records import NewMessage, Sign, SignStatus, SignType
from smsgate.domain.sensitive import default_lexicon
from smsgate.domain.signatures import second_signature

UNSUB = "拒收请回复R"
OURS = Sign("a" * 32, "p", "阿克米", SignType.PROMOTIONAL, SignStatus.APPROVED, "", 0)
THEIRS = Sign("b" * 32, "p", "京东", SignType.PROMOTIONAL, SignStatus.APPROVED, "", 0)
RULES = accept.ProjectRules({s.id: s for s in (OURS, THEIRS)}, {s.name: s for s in (OURS, THEIRS)},
                            default_lexicon())


def by_id(text: str) -> NewMessage:
    return accept.check(SmsMessage("13800138000", text, sign_id=OURS.id), RULES, 0)


def by_flag(text: str) -> NewMessage:
    return accept.check(SmsMessage("13800138000", text, message_include_sign_flag=True), RULES, 0)


def refused(send, text: str) -> errors.SmsgateError:
    with pytest.raises(errors.SmsgateError) as caught:
        send(text)
    return caught.value


# --- a second or disguised signature ----------------------------------------------------------


@pytest.mark.parametrize("body", [
    "双十一【京东】同款五折",         # another brand's name in the middle
    "全场五折【京东】",               # ... or at the end, where Chinese signatures also stand
    "【京东】全场五折",               # (by sign_id: begins with its own; see the next test too)
    "全场【限时】五折",               # 【】 frame only the signature, whatever they enclose
    "全场五折】",                     # half a pair
    "〖京东〗全场五折",               # white lenticular brackets: the closest lookalike
    "︻京东︼全场五折",               # the vertical forms of 【】
    "[京东]全场五折",                 # any bracket around a Chinese name
    "［京东］全场五折",               # full-width
    "〔京东〕全场五折", "﹝京东﹞全场五折", "〘京东〙全场五折", "〚京东〛全场五折", "⟦京东⟧全场五折",
    "[京 东]全场五折", "[京.东]全场五折", "［Ｊ·Ｄ京东］全场五折",  # spaced, dotted, full-width letters
    "[京東]全场五折",                 # traditional characters
    "[2024新款]到店",                 # a Chinese name mixed with digits is still a name
])
def test_a_second_or_disguised_signature_is_refused(body: str) -> None:
    for send, text in ((by_id, body + UNSUB), (by_flag, f"【阿克米】{body}{UNSUB}")):
        refusal = refused(send, text)
        assert refusal.code == "SMN.0009", (text, refusal.message)


def test_two_signatures_with_the_flag_are_refused_even_the_same_one_twice() -> None:
    for text in (f"【阿克米】【京东】全场五折{UNSUB}", f"【阿克米】【阿克米】全场五折{UNSUB}",
                 f"【阿克米】全场五折{UNSUB}【京东】"):
        refusal = refused(by_flag, text)
        assert refusal.code == "SMN.0009" and "second or disguised signature" in refusal.message


@pytest.mark.parametrize("hidden", [
    "\u200b【京东】",        # a zero-width space in front: the text no longer *began* with 【
    "\ufeff【京东】",        # a BOM
    "\u2060【京东】",        # a word joiner
    "\u202e【京东】\u202c",  # bidi controls
    "\u00ad【京东】",        # a soft hyphen
])
def test_a_signature_hidden_behind_an_invisible_character_is_refused(hidden: str) -> None:
    assert refused(by_id, f"{hidden}全场五折{UNSUB}").code == "SMN.0009"
    assert refused(by_flag, f"【阿克米】{hidden}全场五折{UNSUB}").code == "SMN.0009"


@pytest.mark.parametrize("body", [
    "[SALE] Everything 50% off. ",   # a Latin tag: English typography, not a signature
    "Code [SKU-1234] in stock",
    "满减[50%]，速来",
    "点赞[赞]",                     # one character is not a name
    "[双十一全场五折大促销活动]开始",  # a phrase longer than any signature name
    "（京东同款）五折",             # parentheses, quotes and title marks stay free
    "「京东」同款，《购物指南》免费领",
    "京东同款五折",                 # a brand named without brackets is the sensitive words' business
    "[京东 全场五折",               # an unclosed bracket frames nothing
    "第[1/3]条",
])
def test_texts_with_brackets_that_frame_no_name_are_accepted(body: str) -> None:
    message = by_id(body + UNSUB)
    assert message.text == f"【阿克米】{body}{UNSUB}"
    assert by_flag(f"【阿克米】{body}{UNSUB}").text == message.text


def test_the_refusal_names_what_was_found() -> None:
    assert second_signature("双十一【京东】同款") == "【京东】"
    assert second_signature("全场五折】") == "】"
    assert second_signature("到店[京 东]同款") == "[京 东]"
    assert second_signature("[SALE] 50% off") is None
    assert "(【京东】)" in refused(by_flag, f"【阿克米】双十一【京东】同款{UNSUB}").message


# --- invisible format characters --------------------------------------------------------------


@pytest.mark.parametrize(("raw", "sent"), [
    ("a\u200bb", "ab"),                       # zero-width space
    ("a\u200cb\u200dc", "abc"),               # zero-width (non-)joiners between Latin letters
    ("\ufeffhi", "hi"),                       # BOM
    ("a\u2060b", "ab"),                       # word joiner
    ("pay\u00adment", "payment"),             # soft hyphen
    ("\u202eevil\u202c \u2067x\u2069 \u200e\u200f\u061c", "evil x "),  # bidi controls and marks
    ("a\U000e0041\U000e007fb", "ab"),         # tag characters outside an emoji tag sequence
    ("阿\u200d克\u200c米", "阿克米"),
])
def test_invisible_format_characters_are_stripped(raw: str, sent: str) -> None:
    assert strip_format(raw) == sent


@pytest.mark.parametrize("text", [
    "家庭套餐👨\u200d👩\u200d👧\u200d👦",      # an emoji ZWJ sequence
    "骄傲月🏳\ufe0f\u200d🌈", "程序员🧑🏽\u200d💻",
    "Scotland 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a tag sequence
    "می\u200cخواهم",                         # Persian: ZWNJ is spelling
    "क्\u200dष",                             # Devanagari: ZWJ shapes the conjunct
    "\u0600١٢٣",                             # a prepended concatenation mark is visible
    "第一行\n第二行",                         # line breaks are not format characters
])
def test_visible_sequences_keep_their_joiners(text: str) -> None:
    assert strip_format(text) == text


def test_what_is_sent_and_counted_has_no_invisible_characters() -> None:
    stop = " Reply STOP to opt out"  # 22 characters
    long = accept.check(SmsMessage("+447911123456", "A" * 50 + "\u00ad" * 20 + stop, sign_id=OURS.id), RULES, 0)
    assert long.text == "【阿克米】" + "A" * 50 + stop  # 77 UCS-2 characters: two parts
    assert long.fee_num == segments.fee_num(long.text) == 2
    short = accept.check(SmsMessage("+447911123456", "A" * 30 + "\u200b" * 40 + stop, sign_id=OURS.id), RULES, 0)
    assert short.text == "【阿克米】" + "A" * 30 + stop and short.fee_num == 1  # 57 characters sent, not 97


def test_a_text_of_invisible_characters_only_is_empty() -> None:
    assert refused(by_id, "\u200b\u200b\ufeff").code == "SMN.0009"


def test_the_length_limit_counts_what_is_sent() -> None:
    body = "惠" * (accept.MAX_MESSAGE_CHARS - 5 - len(UNSUB)) + UNSUB  # 490 with 【阿克米】
    assert len(by_id(body + "\u200b" * 30).text) == accept.MAX_MESSAGE_CHARS


def test_the_same_text_with_and_without_invisible_characters_is_a_duplicate() -> None:
    items = [SmsMessage("13800138000", f"全场五折{UNSUB}", sign_id=OURS.id),
             SmsMessage("13800138000", f"全场\u200b五折{UNSUB}", sign_id=OURS.id)]
    first, second = accept.screen(items, RULES, 0)
    assert isinstance(first, NewMessage) and isinstance(second, errors.EndpointDuplicate)

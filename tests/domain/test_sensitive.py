"""Sensitive-word screening: normalisation defeats the usual evasions, matches are reported
as the lexicon writes them and where the sender wrote them, and legitimate marketing passes."""

from __future__ import annotations

import unicodedata
from importlib import resources

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.domain.sensitive import Lexicon, default_lexicon, normalize, normalize_many, parse_words

LEXICON = default_lexicon()  # also builds the normalisation table, outside hypothesis deadlines
WORDS = list(LEXICON)
KEYS = {w: normalize(w) for w in WORDS}
# Entries that contain no other entry: for these, find() must name exactly the word disguised.
MINIMAL = [w for w in WORDS if not any(k != KEYS[w] and k in KEYS[w] for k in KEYS.values())]
LATIN = [w for w in WORDS if any(c.isascii() and c.isalpha() for c in w)]
TRADITIONAL = [opencc.OpenCC(cfg) for cfg in ("s2t", "s2tw", "s2hk")]

LEGITIMATE = [
    "【优品商城】双11狂欢提前购！全场满300减50，电动牙刷单支装仅需99元，活动中奖品丰富，"
    "点击 https://m.youpin.cn/s/a1 抢购。拒收请回复R",
    "【招商银行】尊敬的客户，您的信用卡本期账单已出，积分可兑换精美礼品，"
    "到期还款日前还款享免息期，详询95555。回T退订",
    "【工商银行】您的信用卡积分将于12月31日清零，请尽快登录App兑换；账单分期手续费限时8折。"
    "拒收请回复R",
    "【东方航空】会员专享：上海往返三亚机票低至799元，另赠双倍积分，订完即止。回TD退订",
    "【新东方】暑假证书班火热报名中，雅思、托福小班授课，前20名赠送教材，"
    "详询400-123-4567。退订回T",
    "【万科翡翠公园】本周六开放日！最后5套现房特惠，银行贷款利率优惠，到访即送精美礼品，"
    "地址：滨江大道88号。拒收请回复R",
    "【美团外卖】新疆独特风味大盘鸡今日5折，天津大麻花买二送一，免费配送。回T退订",
    "【大剧院】周末《歌剧魅影》上演，舞台独唱片段抢先看，会员购票享9折。拒收请回复R",
    "【浪漫西餐厅】七夕特色情侣套餐仅需520元，预约即送玫瑰一支，可开发票。退订回T",
    "【香港迪士尼】香港独家优惠：门票+酒店套餐立减300元，山东突破百万游客感恩回馈。回N退订",
    "【海飞丝】宣传销售季：洗发水买一送一，薄荷官方旗舰店同步开售。拒收请回复R",
    "【小米】新机跑分突破百万，以旧换新最高补贴800元，品牌九周年庆好礼不停。回T退订",
    "【太平洋保险】您的车险将于30天后到期，续保送加油卡和汽车保养卡，抵押注销可代办。"
    "拒收请回复R",
    "【平安驾校】暑假驾照班开课啦，学生特惠3980元，包接送。拒收请回复R",
    "【星空影城】一起做爱心公益观影，宝宝陪睡玩偶限量赠送，风情大片周五上映。退订回T",
    "【丝路旅行】伊斯兰国家风情之旅10日游，度假护照集章赢好礼，报名立减500元。回T退订",
    "【金鼎酒店】金鼎大楼凤凰厅婚宴9折，惊艳照片免费拍，厨房全能神器抽奖送。拒收请回复R",
    "【好家居】床上四件套低至199元，全新唐人街美食节同步开启，春节放假，发票节后寄出。回T退订",
]


# --- strategies -----------------------------------------------------------------------------


def _carries_meaning(ch: str) -> bool:
    """Whether NFKC of ``ch`` contains a letter or a digit (independent of the implementation)."""
    return any(unicodedata.category(x)[0] in "LN" for x in unicodedata.normalize("NFKC", ch))


NOISE_CATEGORIES = ("Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me") + tuple(
    "P" + c for c in "cdseifo"
) + ("Sm", "Sc", "Sk", "So")
noise_char = st.characters(categories=NOISE_CATEGORIES).filter(lambda c: not _carries_meaning(c))
noise = st.text(noise_char, max_size=3)


def _variants(ch: str) -> list[str]:
    """Ways a sender may write ``ch``: case, full width, traditional forms."""
    forms = {ch, ch.upper(), *(cc.convert(ch) for cc in TRADITIONAL)}
    forms |= {chr(ord(f) + 0xFEE0) for f in set(forms) if "!" <= f <= "~"}
    return sorted(forms)


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    """``word`` with each character in a random variant, noise after each one."""
    return "".join(draw(st.sampled_from(_variants(ch))) + draw(noise) for ch in word)


# --- normalize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("代 開 發 票", "代开发票"),
        ("ＢＥＴ３６５", "bet365"),
        ("𝐛𝐞𝐭365", "bet365"),  # mathematical bold letters
        ("赌😀博", "赌博"),  # emoji beyond the BMP
        ("赌\u200b博", "赌博"),  # zero-width space
        ("赌\U0001fae8博", "赌博"),  # an emoji newer than Python's Unicode database
        ("赌\u0345博", "赌博"),  # a combining mark that casefolds to a letter
        ("⼤麻烟", "大麻烟"),  # Kangxi radical, a symbol that NFKC turns into 大
        ("①⑩", "110"),
    ],
)
def test_normalize_defeats_evasions(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_keeps_only_letters_and_digits() -> None:
    """Every assigned character is either kept as letters or digits or dropped."""
    assigned = (chr(cp) for cp in range(0x110000))
    kept = normalize("".join(c for c in assigned if unicodedata.category(c) not in ("Cn", "Co")))
    assert {unicodedata.category(c)[0] for c in kept} == {"L", "N"}


def test_normalize_is_idempotent_on_every_code_point() -> None:
    everything = "".join(map(chr, range(0x110000)))
    once = normalize(everything)
    assert normalize(once) == once


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)


# --- Lexicon.find ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.data())
def test_disguised_word_is_found_as_written(data: st.DataObject) -> None:
    word = data.draw(st.sampled_from(MINIMAL))
    text = data.draw(noise) + data.draw(disguised(word)) + data.draw(noise)
    assert LEXICON.find(text) == word


@pytest.mark.parametrize("word", LATIN)
@pytest.mark.parametrize(
    "spell",
    [
        str.upper,
        lambda w: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in w),
        lambda w: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in w.upper()),
        lambda w: " ".join(w.title()),
    ],
    ids=["upper", "full-width", "full-width-upper", "spaced-title"],
)
def test_latin_terms_found_in_any_width_and_case(word: str, spell) -> None:
    assert LEXICON.find(f"【店】活动{spell(word)}详询。拒收请回复R") == word


def test_default_lexicon_has_latin_terms() -> None:
    assert len(LATIN) >= 2


@pytest.mark.parametrize("converter", TRADITIONAL, ids=["s2t", "s2tw", "s2hk"])
def test_traditional_spellings_of_every_word_are_found(converter: opencc.OpenCC) -> None:
    missed = [w for w in MINIMAL if LEXICON.find(converter.convert(w)) != w]
    assert missed == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("網上賭博", "赌博"), ("本店代開發票", "代开发票"), ("專業代開增值稅發票", "代开增值税")],
)
def test_traditional_examples(text: str, expected: str) -> None:
    assert LEXICON.find(text) == expected


def test_reports_the_entry_as_written_in_the_lexicon() -> None:
    assert Lexicon(["賭博"]).find("网上赌博") == "賭博"
    assert Lexicon(["ＶＸ"]).find("加vx") == "ＶＸ"


def test_earliest_ending_match_wins_then_the_longest() -> None:
    lexicon = Lexicon(["赌场", "网上赌场", "赌博", "代开发票"])
    assert lexicon.find("网上赌场") == "网上赌场"
    assert lexicon.find("代开发票，赌博") == "代开发票"
    assert lexicon.find("赌博，代开发票") == "赌博"


@pytest.mark.parametrize("text", LEGITIMATE)
def test_legitimate_marketing_passes(text: str) -> None:
    assert LEXICON.find_all(text) == []
    assert LEXICON.find(text) is None


def test_letters_between_the_characters_break_the_word() -> None:
    assert Lexicon(["代开发票"]).find("代开的发票") is None


def test_empty_lexicon() -> None:
    lexicon = Lexicon(["", "  ", "！!—"])  # nothing left after normalisation
    assert len(lexicon) == 0
    assert lexicon  # still a lexicon
    assert lexicon.find("赌博") is None
    assert lexicon.find_all("赌博") == []


# --- Lexicon.find_all -----------------------------------------------------------------------


@settings(max_examples=300)
@given(st.data())
def test_find_all_points_at_the_disguised_spelling(data: st.DataObject) -> None:
    word = data.draw(st.sampled_from(WORDS))
    prefix = "【优品】会员日" + data.draw(noise)
    spelled = data.draw(disguised(word))
    text = prefix + spelled + data.draw(noise) + "拒收请回复R"
    assert (len(prefix), word) in LEXICON.find_all(text)
    assert text[len(prefix)] == spelled[0]


def test_find_all_reports_every_match_in_order() -> None:
    text = "🎉🎉代 開 發 票，另有ＢＥＴ３６５，赌  博"
    assert LEXICON.find_all(text) == [(2, "代开发票"), (12, "bet365"), (19, "赌博")]


# --- extend and the default lexicon ---------------------------------------------------------


def test_extend_adds_project_words_and_keeps_defaults() -> None:
    extended = LEXICON.extend(["竞品名称", "赌 博"])  # the second duplicates a default entry
    assert len(extended) == len(LEXICON) + 1
    assert extended.find("比竞品名称更好") == "竞品名称"
    assert extended.find("网上赌博") == "赌博"  # the default's spelling is kept
    assert all(extended.find(w) is not None for w in WORDS)
    assert LEXICON.find("竞品名称") is None  # the default is not changed


def test_lexicon_keeps_one_entry_per_normalised_form() -> None:
    lexicon = Lexicon(["赌博", "賭 博", "ＡＢ", "ab"])
    assert len(lexicon) == 2
    assert list(lexicon) == ["赌博", "ＡＢ"]


def test_default_lexicon_file_is_clean_and_large_enough() -> None:
    source = resources.files("smsgate.domain") / "data" / "sensitive_words.txt"
    words = parse_words(source.read_text(encoding="utf-8"))
    keys = [normalize(w) for w in words]
    assert len(words) >= 300
    assert all(keys), "every entry keeps letters after normalisation"
    assert len(set(keys)) == len(keys), "no duplicates after normalisation"
    assert len(LEXICON) == len(words)


def test_default_lexicon_is_loaded_once() -> None:
    assert default_lexicon() is default_lexicon()


# --- the batch's pass: normalize_many and find_many answer as normalize and find, text by text

_PIECES = st.one_of(
    st.text(),  # any code point: astral ones, lone surrogates, NUL
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(" ".join),  # disguised by spaces
    st.sampled_from(["ß", "㍿", "ﬁ", "①", "Ａ", "代開發票", "\u200b", "\ud800", "\x00", "😀"]),
)


@settings(max_examples=300)
@given(st.lists(st.lists(_PIECES, max_size=4).map("".join), max_size=8))
def test_a_batch_is_normalised_and_screened_as_its_texts_one_by_one(texts):
    joined, ends = normalize_many(texts)
    one_by_one = [normalize(t) for t in texts]
    assert joined == "".join(one_by_one)
    assert ends == [sum(map(len, one_by_one[:i + 1])) for i in range(len(texts))]
    assert LEXICON.find_many(texts) == [LEXICON.find(t) for t in texts]


def test_a_word_split_across_two_texts_of_a_batch_is_in_neither():
    first, second = WORDS[0][:1], WORDS[0][1:]
    assert LEXICON.find_many([first, second, WORDS[0]]) == [None, None, WORDS[0]]

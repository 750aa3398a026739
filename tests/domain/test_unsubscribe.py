import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.unsubscribe import has_unsubscribe

BODY = "【某某商城】双十一大促全场五折起，满300减50，详见 https://example.com/s/abc "

ACCEPTED = [
    "拒收请回复R",
    "回T退订",
    "回TD退订",
    "退订回T",
    "回N退订",
    "退订回复TD",
    "回复T退订",
    "拒收回R",
    "回复STOP退订",
    "请回复T退订",
    "退订请回复T",
    "Reply STOP to opt out",
    "Reply STOP to opt-out",
    "Reply STOP to unsubscribe",
    # case
    "拒收请回复r",
    "回td退订",
    "回复stop退订",
    "reply stop to opt out",
    "REPLY STOP TO OPT OUT",
    # full-width letters, both cases
    "拒收请回复Ｒ",
    "回ＴＤ退订",
    "回ｔ退订",
    "回复ＳＴＯＰ退订",
    # optional spaces (ASCII and ideographic)
    "回 T 退订",
    "拒收 请回复 R",
    "回\u3000TD\u3000退订",
    # trailing punctuation / whitespace
    "回T退订。",
    "拒收请回复R!",
    "拒收请回复R！",
    "回T退订…",
    "回T退订 ",
    "回T退订。\n",
    "回TD退订】",
    "Reply STOP to opt out.",
    "回T退订！！~ ",
]

REFUSED = [
    "",
    BODY,
    "退订",
    "回复R",  # no 拒收 / 退订
    "拒收",
    "回X退订",  # unknown code
    "回RT退订",
    "回T退订x",  # more text after it
    "回T退订 谢谢",
    "回T退订。详询400-123-4567",
    "回T退订😀",  # emoji is not punctuation
    "拒收请回复R1",
    "Reply STOP",
    "Reply STOP to opt out now",
    "回Ｔ退定",
]


@pytest.mark.parametrize("tail", ACCEPTED)
def test_accepted_at_end(tail):
    assert has_unsubscribe(tail)
    assert has_unsubscribe(BODY + tail)


@pytest.mark.parametrize("text", REFUSED)
def test_refused(text):
    assert not has_unsubscribe(text)


def test_instruction_in_the_middle_does_not_count():
    assert not has_unsubscribe("拒收请回复R，" + BODY)
    assert not has_unsubscribe("【店】回T退订 明天还有活动")
    assert has_unsubscribe("【店】回T退订 明天还有活动 回T退订")


@given(st.sampled_from(ACCEPTED), st.text(min_size=1))
def test_any_text_before_is_fine(tail, before):
    assert has_unsubscribe(before + tail)


@given(
    st.sampled_from(ACCEPTED),
    st.sampled_from("谢a0😀"),
    st.text(alphabet="谢光临abc0123😀，。! \n", max_size=20),
)
def test_a_word_after_spoils_it(tail, word, after):
    assert not has_unsubscribe(BODY + tail + word + after)

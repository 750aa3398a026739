"""The admin input rules themselves (``domain.admin``); ``tests/console/test_admin_rules.py``
runs them through the command line and the console."""

from __future__ import annotations

import pytest

from smsgate.domain import admin, errors
from smsgate.domain.records import SignType


def test_values_come_back_as_they_are_kept() -> None:
    assert admin.project_name("  acme ") == "acme"
    assert admin.grants([" promotion", "beta", "promotion", " "]) == ["beta", "promotion"]
    assert admin.send_window(" 09:00-18:00 ") == "09:00-18:00"
    assert admin.sign_type("notification") is SignType.NOTIFICATION
    assert admin.rejection("TRADEMARK", "  looks like another brand ") == "TRADEMARK: looks like another brand"
    assert admin.rejection("OTHER", "  ") == "OTHER"
    assert admin.numbers(["13800138000", "+8613800138000", "8613900139000"]) == [
        "+8613800138000", "+8613900139000"]


def test_a_word_of_any_length_can_still_be_removed() -> None:
    long_word = "x" * 100  # kept before the limit
    with pytest.raises(errors.BadRequest, match="at most 64"):
        admin.words_to_add([long_word])
    assert admin.words_to_remove([f" {long_word} "]) == [long_word]
    with pytest.raises(errors.BadRequest, match="at least one word"):
        admin.words_to_remove([" ", ""])


@pytest.mark.parametrize(("name", "ok"), [("alice", True), ("a.b_c@d-e", True), ("x" * 64, True),
                                          ("", False), ("bad name", False), ("x" * 65, False),
                                          ("ålice", False)])
def test_operator_names(name: str, ok: bool) -> None:
    assert admin.is_operator_name(name) is ok
    if ok:
        assert admin.operator_name(name) == name
    else:
        with pytest.raises(errors.BadRequest):
            admin.operator_name(name)


def test_operator_passwords_have_at_least_eight_characters() -> None:
    assert admin.operator_password("8 chars!") == "8 chars!"
    with pytest.raises(errors.BadRequest, match="at least 8"):
        admin.operator_password("7 chars")


def test_a_thousand_numbers_at_most_and_a_bad_one_is_named() -> None:
    many = [f"1380013{i:04d}" for i in range(1001)]
    with pytest.raises(errors.BadRequest, match="1 to 1000"):
        admin.numbers(many)
    assert len(admin.numbers(many[:1000])) == 1000
    with pytest.raises(errors.EndpointInvalid, match="'12345'"):
        admin.numbers(["13800138000", "12345"])

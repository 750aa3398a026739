"""Signature names and the ``【name】`` prefix that carries them in a message."""

from __future__ import annotations

import re

from smsgate.domain.errors import SignNameInvalid

# 2–8 characters: CJK ideographs, ASCII letters or digits (SPEC §2, SMN.0081).
_NAME = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{2,8}")
# The prefix a message carries when message_include_sign_flag is true.
_PREFIX = re.compile(r"【([^【】]{1,16})】")


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SignNameInvalid()
    return name


def split_prefix(message: str) -> tuple[str, str] | None:
    """``("name", "rest")`` when the message begins with ``【name】``, else None."""
    match = _PREFIX.match(message)
    if match is None:
        return None
    return match.group(1), message[match.end() :]


def with_prefix(name: str, body: str) -> str:
    return f"【{name}】{body}"

"""Plain data the store hands out: no behaviour, no I/O."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from enum import IntEnum


class SignType(IntEnum):
    NOTIFICATION = 0
    PROMOTIONAL = 1


class SignStatus(IntEnum):
    PENDING = 0
    APPROVED = 3
    REJECTED = 4
    DELETED = 5


class TemplateType(IntEnum):
    NOTIFICATION = 0
    PROMOTIONAL = 1


class TemplateStatus(IntEnum):
    PENDING = 0
    APPROVED = 3
    REJECTED = 4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A random 32-hex id."""
    return os.urandom(16).hex()


def new_message_id(at_ms: int) -> str:
    """32 hex: 48 bits of acceptance time, then 80 random bits (sorts by time, never collides)."""
    return f"{at_ms & 0xFFFFFFFFFFFF:012x}{os.urandom(10).hex()}"


def new_message_ids(at_ms: int, n: int) -> list[str]:
    """``n`` ids as :func:`new_message_id` makes them, from one draw of the OS's random source
    (each still has its own 80 random bits): one system call per batch, not per message."""
    prefix = f"{at_ms & 0xFFFFFFFFFFFF:012x}"
    draw = os.urandom(10 * n).hex()
    return [prefix + draw[i:i + 20] for i in range(0, 20 * n, 20)]


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    enterprise: bool
    grants: frozenset[str]
    daily_cap: int | None
    send_window: str | None
    version: int
    created_at: int

    @property
    def may_promote(self) -> bool:
        return self.enterprise and "promotion" in self.grants

    # The project's effective policy: its own setting, else the service's default (a project
    # keeps NULL until an operator sets one, and goes back to it on reset).
    def effective_cap(self, default: int) -> int:
        """Messages per number per day."""
        return self.daily_cap or default

    def effective_window(self, default: str) -> str:
        """The sending window, ``HH:MM-HH:MM`` local time."""
        return self.send_window or default


@dataclass(frozen=True, slots=True)
class Sign:
    id: str
    project_id: str
    name: str
    type: SignType
    status: SignStatus
    reply: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Template:
    """An SMS template: a fixed text reviewed once, then sent to many numbers."""

    id: str
    project_id: str
    name: str
    type: TemplateType
    content: str  # without the signature: the signature is the call's sign_id
    remark: str
    status: TemplateStatus
    reply: str
    created_at: int


@dataclass(slots=True)  # not frozen: a frozen init costs 1.5 µs more, per message accepted
class NewMessage:
    """A message that passed every stateless rule, waiting for the store's checks."""

    id: str
    sign_id: str
    e164: str
    nation_code: str
    text: str
    fee_num: int
    extend_code: str | None
    extend_src_id: str | None

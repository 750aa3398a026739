"""Console operators, their passwords and their sessions.

* Passwords are kept as ``hashlib.scrypt`` hashes (``scrypt$N$r$p$salt$hash``, the cost written
  in each hash so that it can be raised later without breaking older ones).
* A session is a cookie sealed with the master key (``SecretBox``: Fernet, i.e. AES-CBC with an
  HMAC-SHA256 over it), so it cannot be read or forged without the key.  It carries the
  operator's name, its expiry and a fingerprint of the operator's password hash: changing the
  password or deleting the operator ends every session at once.  The cookie is ``HttpOnly``,
  ``SameSite=Strict``, limited to ``/console`` (and ``Secure`` over HTTPS).
* Cross-site request forgery: besides SameSite=Strict, every state-changing call must carry the
  ``X-Smsgate-Console`` header, which a page of another origin cannot send without a CORS
  preflight this server never grants; an ``Origin`` header, when present, must be this host.

The operators themselves (names, hashes) are kept by ``store.operators``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from smsgate.domain.records import now_ms
from smsgate.auth import audit
from smsgate.auth.secrets import SecretBox
from smsgate.domain import errors
from smsgate.domain.admin import is_operator_name
from smsgate.store.db import Db
from smsgate.store.operators import operator_hash

SESSION_COOKIE = "smsgate_console"
CSRF_HEADER = "x-smsgate-console"

# scrypt cost: 2^15 x 8 x 1 uses 32 MiB and about 0.1 s per hash on this service's hardware.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 128 * 1024 * 1024


# --- errors (the service's one error model) --------------------------------------------------


class NotLoggedIn(errors.SmsgateError):
    """**decision**: the console's 401s reuse SMN.0001 (no valid credentials)."""

    code = "SMN.0001"
    status = 401
    default_message = "Log in to the console first (the session is missing or has expired)."


class LoginFailed(NotLoggedIn):
    default_message = "Wrong operator name or password."


class CsrfRefused(errors.SmsgateError):
    code = "SMN.0001"
    status = 403
    default_message = (
        "A console call that changes something must carry the X-Smsgate-Console header"
        " and come from the console's own origin."
    )


# --- passwords -------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=_SCRYPT_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# --- sessions --------------------------------------------------------------------------------


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Session:
    operator: str
    expires_at: int  # epoch ms


class Sessions:
    """Issues and opens session cookies sealed with the master key."""

    def __init__(self, box: SecretBox, ttl_ms: int) -> None:
        self._box = box
        self.ttl_ms = ttl_ms

    def issue(self, operator: str, password_hash: str, now: int) -> tuple[str, Session]:
        session = Session(operator, now + self.ttl_ms)
        payload = {"o": operator, "f": _fingerprint(password_hash), "e": session.expires_at}
        return self._box.seal(json.dumps(payload, separators=(",", ":"))).decode(), session

    def open(self, cookie: str, now: int, password_hash_of) -> Session | None:
        """The session a cookie carries, or None (forged, expired, operator gone or re-keyed).
        ``password_hash_of(name)`` is the operator's current hash."""
        try:
            payload = json.loads(self._box.open(cookie.encode()))
            operator, fingerprint, expires = payload["o"], payload["f"], int(payload["e"])
        except (RuntimeError, ValueError, KeyError, TypeError):
            return None
        if expires <= now:
            return None
        current = password_hash_of(operator)
        if current is None or not hmac.compare_digest(_fingerprint(current), fingerprint):
            return None
        return Session(operator, expires)


def sessions_of(request: Request) -> Sessions:
    """The app's session issuer (one per app, keyed with its master key)."""
    app_state = request.app.state
    if getattr(app_state, "console_sessions", None) is None:
        state = app_state.smsgate
        app_state.console_sessions = Sessions(
            state.secrets, int(state.settings.console_session_hours * 3_600_000))
        app_state.console_throttle = LoginThrottle()
    return app_state.console_sessions


def throttle_of(request: Request) -> LoginThrottle:
    sessions_of(request)
    return request.app.state.console_throttle


def current_session(request: Request) -> Session:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotLoggedIn()
    db = request.app.state.smsgate.reader.db
    session = sessions_of(request).open(cookie, now_ms(), lambda n: operator_hash(db, n))
    if session is None:
        raise NotLoggedIn()
    return session


def check_csrf(request: Request) -> None:
    """The custom header, and (when the browser sent one) an Origin that is this host."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise CsrfRefused()
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise CsrfRefused("The request comes from another origin.")
    if origin == "null":
        raise CsrfRefused("The request comes from an opaque origin.")


_DUMMY_HASH: list[str] = []


def _burn(password: str) -> None:
    """As much work as checking a real password."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(os.urandom(8).hex()))
    verify_password(password, _DUMMY_HASH[0])


class TooManyLogins(errors.SmsgateError):
    code = "SMN.0001"
    status = 429
    default_message = "Too many failed logins for this operator from this address; wait a few minutes."


class LoginThrottle:
    """At most ``limit`` failed logins per source address and operator name in ``window_s``
    (per process): an online password guesser gets a handful of tries, then waits, while the
    operator, logging in from another address, is never locked out by someone else's guesses."""

    def __init__(self, limit: int = 10, window_s: float = 900.0, max_entries: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_entries = max_entries
        self._failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def check(self, address: str, name: str) -> None:
        if len(self._recent((address, name), time.monotonic())) >= self.limit:
            raise TooManyLogins()

    def failed(self, address: str, name: str) -> None:
        key = (address, name)
        if key not in self._failures and len(self._failures) >= self.max_entries:
            # names and addresses are the caller's: bound the memory, forgetting the oldest
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(key, []).append(time.monotonic())

    def succeeded(self, address: str, name: str) -> None:
        self._failures.pop((address, name), None)


async def check_login(db: Db, name: str, password: str, throttle: LoginThrottle,
                      address: str = "") -> str:
    """The operator's password hash when name and password match; else :class:`LoginFailed`
    (logged, without the password).  An unknown name costs the same scrypt as a wrong password
    (no way to probe for names).  ``address``: where the attempt comes from."""
    throttle.check(address, name)
    stored = operator_hash(db, name) if is_operator_name(name) else None
    if stored is None:
        await asyncio.to_thread(_burn, password)
    elif await asyncio.to_thread(verify_password, password, stored):
        throttle.succeeded(address, name)
        return stored
    throttle.failed(address, name)
    audit.login_failed(operator=name, client=address or None,
                       reason="unknown operator" if stored is None else "wrong password")
    raise LoginFailed()

"""Server-side verification of Huawei Cloud AK/SK signing (``SDK-HMAC-SHA256``).

Pure functions only: no I/O, no web framework.  ``sdk_canonical`` builds the canonical request
both sides sign (and says how it follows what the SDK sends); ``sdk_signer`` signs a request as
the SDK does.  Their public names are importable from here too (``__all__``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from smsgate.auth.sdk_canonical import (
    ALGORITHM,
    HEADER_DATE,
    SignatureError,
    canonical_query,
    canonical_request,
    format_sdk_date,
    parse_sdk_date,
    sign,
    string_to_sign,
)
from smsgate.auth.sdk_signer import sign_request

__all__ = [
    "ALGORITHM",
    "AuthorizationHeader",
    "PresentedKey",
    "SignatureError",
    "WrongCredentials",
    "canonical_request",
    "check_headers",
    "parse_authorization",
    "parse_sdk_date",
    "sign",
    "sign_request",
    "string_to_sign",
    "verify",
    "verify_signature",
]

#: how far X-Sdk-Date may be from the server's clock
MAX_SKEW = timedelta(minutes=15)

_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# RFC 9110 token characters, used for header names.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ACCESS_KEY_RE = re.compile(r"[^\s,;=]+")


class WrongCredentials(SignatureError):
    """An unknown access key, or a signature that does not match: a server answers both alike,
    so that a caller cannot probe for keys (``reason`` says which, for the log)."""


@dataclass(frozen=True, slots=True)
class AuthorizationHeader:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


# --------------------------------------------------------------------------
# Parsing


def parse_authorization(value: str) -> AuthorizationHeader:
    """Parse ``SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex``.

    Header names are lowercased; the signature is returned lowercase.
    Raises :class:`SignatureError` on anything malformed.
    """
    if not isinstance(value, str) or not value.strip():
        raise SignatureError("missing Authorization header")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"unsupported signing algorithm {algorithm[:40]!r}, expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, val = part.strip().partition("=")
        if not eq:
            raise SignatureError(f"malformed Authorization header: bad field {part.strip()[:40]!r}")
        if name not in ("Access", "SignedHeaders", "Signature"):
            raise SignatureError(f"malformed Authorization header: unknown field {name[:40]!r}")
        if name in fields:
            raise SignatureError(f"malformed Authorization header: duplicate field {name}")
        fields[name] = val.strip()
    for name in ("Access", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise SignatureError(f"malformed Authorization header: missing {name}")

    access_key = fields["Access"]
    if not _ACCESS_KEY_RE.fullmatch(access_key):
        raise SignatureError("malformed Authorization header: bad Access value")

    signed = tuple(h.lower() for h in fields["SignedHeaders"].split(";"))
    for h in signed:
        if not _TOKEN_RE.fullmatch(h):
            raise SignatureError(f"malformed Authorization header: bad signed header name {h[:40]!r}")
    if len(set(signed)) != len(signed):
        raise SignatureError("malformed Authorization header: duplicate signed header")

    signature = fields["Signature"]
    if not _HEX64_RE.fullmatch(signature):
        raise SignatureError("malformed Authorization header: Signature must be 64 hex digits")
    return AuthorizationHeader(access_key, signed, signature.lower())



# --------------------------------------------------------------------------
# Verification


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """What the headers of a signed request hold, checked before its body is read: the
    Authorization header, the X-Sdk-Date it was signed at (within the clock skew) and the
    secret of its access key (which exists).  Only :func:`verify_signature` says the request
    is genuine."""

    authorization: AuthorizationHeader
    sdk_date: str
    secret: str = field(repr=False)

    @property
    def access_key(self) -> str:
        return self.authorization.access_key


def check_headers(
    *,
    headers: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: datetime | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> PresentedKey:
    """The checks of :func:`verify` that need no body: a well-formed ``SDK-HMAC-SHA256``
    Authorization header signing ``host`` and ``x-sdk-date``, every signed header present, the
    date within ``max_skew`` of ``now``, and an access key ``lookup_secret`` knows.

    ``headers``: lowercase name -> value (see :func:`canonical_request`).
    Raises :class:`SignatureError` with a human-readable ``reason`` otherwise.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    auth = parse_authorization(headers.get("authorization", ""))
    signed = auth.signed_headers
    if "host" not in signed:
        raise SignatureError("the host header must be signed")
    if HEADER_DATE not in signed:
        raise SignatureError("the x-sdk-date header must be signed")
    for name in signed:
        if name not in headers:
            raise SignatureError(f"signed header {name!r} is missing from the request")

    sdk_date = headers[HEADER_DATE].strip()
    signed_at = parse_sdk_date(sdk_date)
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    if abs(now - signed_at) > max_skew:
        raise SignatureError(
            f"X-Sdk-Date {sdk_date} is outside the allowed clock skew of {max_skew} (server time {format_sdk_date(now)})"
        )

    secret = lookup_secret(auth.access_key)
    if secret is None:
        raise WrongCredentials(f"unknown access key {auth.access_key[:64]!r}")
    return PresentedKey(auth, sdk_date, secret)


def verify_signature(
    presented: PresentedKey,
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The signature of a request whose headers passed :func:`check_headers`, over its method,
    path, query, signed headers and ``body``; returns the access key.

    Raises :class:`SignatureError` with a human-readable ``reason`` otherwise.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    auth = presented.authorization
    variants = [False]
    if canonical_query(query_string) != canonical_query(query_string, keep_repeated_order=True):
        variants.append(True)
    for keep_order in variants:
        canonical = canonical_request(
            method, raw_path, query_string, headers, auth.signed_headers, body, keep_repeated_order=keep_order
        )
        try:
            expected = sign(presented.secret, string_to_sign(canonical, presented.sdk_date))
        except UnicodeEncodeError:
            raise SignatureError("request contains text that cannot be encoded as UTF-8") from None
        if hmac.compare_digest(expected, auth.signature):
            return auth.access_key
    raise WrongCredentials("signature mismatch")


def verify(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    now: datetime | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> str:
    """Verify an ``SDK-HMAC-SHA256`` signed request; return its access key.

    :func:`check_headers` then :func:`verify_signature`; a server that reads the body only
    after the headers passed calls the two itself.
    Raises :class:`SignatureError` with a human-readable ``reason`` otherwise.
    """
    presented = check_headers(headers=headers, lookup_secret=lookup_secret, now=now, max_skew=max_skew)
    return verify_signature(presented, method=method, raw_path=raw_path, query_string=query_string,
                            headers=headers, body=body)

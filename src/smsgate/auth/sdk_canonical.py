"""Huawei Cloud AK/SK signing (``SDK-HMAC-SHA256``): the canonical request both sides sign.

Pure functions only: no I/O, no web framework.  The canonicalisation follows
what ``huaweicloudsdkcore.signer.Signer`` actually produces (it is what real
clients send), including these details:

* CanonicalURI: the path is percent-decoded (UTF-8, invalid sequences become
  U+FFFD), split on ``/`` (so an encoded ``%2F`` acts as a separator), each
  segment re-encoded keeping only RFC 3986 unreserved characters, rejoined, and
  a ``/`` appended unless it already ends with one (``/a`` and ``/a/`` are
  therefore indistinguishable).
* CanonicalQuery: pairs are decoded, sorted by (key, value) on the decoded text,
  re-encoded like path segments and joined as ``k=v`` with ``&``.  A pair
  without ``=`` is ``k=``.  ``+`` is decoded as a space (the Python SDK never
  sends a bare ``+``; form-style clients mean a space by it).
  The SDK sorts the *typed* values, so repeated integer values are ordered
  numerically (``n=9&n=10``), and it sends the query on the wire in exactly
  that order.  :func:`sdk_hmac.verify` therefore also accepts a canonical query in
  which repeated values keep their wire order (keys still sorted).  Both forms
  cover the same multiset of parameters, so nothing unsigned can slip in.
* CanonicalHeaders: the client's SignedHeaders order, ``name:value`` where the
  value is stripped with ``str.strip()`` (internal whitespace is kept).  The SDK
  hashes the canonical request as UTF-8 and sends non-ASCII header values as
  UTF-8 bytes; servers (WSGI/ASGI, Starlette) hand them over decoded as
  ISO-8859-1, so such values are reinterpreted as UTF-8 before use (see
  :func:`_header_text`).
* Payload: an empty body always hashes to sha256(b"") even if
  ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` is sent (the SDK does the same).
  For a non-empty body, a *signed* ``X-Sdk-Content-Sha256`` of
  ``UNSIGNED-PAYLOAD`` is used literally; any other value must equal the
  body's SHA-256 (the SDK would use it literally; we refuse a wrong one).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

HEADER_DATE = "x-sdk-date"
HEADER_CONTENT_SHA = "x-sdk-content-sha256"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")


class SignatureError(Exception):
    """The request is not (validly) signed.  ``reason`` is human-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason



def parse_sdk_date(value: str) -> datetime:
    """Parse ``YYYYMMDDTHHMMSSZ`` strictly; returns an aware UTC datetime."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value.strip()):
        raise SignatureError("malformed X-Sdk-Date, expected YYYYMMDDTHHMMSSZ")
    try:
        parsed = datetime.strptime(value.strip(), DATE_FORMAT)
    except ValueError:
        raise SignatureError("malformed X-Sdk-Date, not a valid date") from None
    return parsed.replace(tzinfo=timezone.utc)


def format_sdk_date(when: datetime) -> str:
    """Format a datetime as X-Sdk-Date (naive values are taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime(DATE_FORMAT)


# --------------------------------------------------------------------------
# Canonicalisation


def _encode(text: str) -> str:
    # Keep only RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), UTF-8 %XX otherwise.
    return quote(text, safe="~")


def _canonical_uri(raw_path: str) -> str:
    decoded = unquote(raw_path or "/")
    joined = "/".join(_encode(segment) for segment in decoded.split("/"))
    return joined if joined.endswith("/") else joined + "/"


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    pairs = []
    for item in query_string.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def canonical_query(query_string: str, *, keep_repeated_order: bool = False) -> str:
    pairs = _query_pairs(query_string)
    if keep_repeated_order:
        pairs.sort(key=lambda kv: kv[0])  # stable: repeated values stay in wire order
    else:
        pairs.sort()
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def _header_text(value: str) -> str:
    """Header value as the signer saw it, trimmed.

    Servers decode header bytes as ISO-8859-1; Huawei's SDK sends non-ASCII
    values as UTF-8.  If the value round-trips latin-1 -> UTF-8 we use the
    UTF-8 text, otherwise (already decoded text, or not UTF-8) it is used as is.
    Trimming happens after the re-decoding (U+00A0/U+0085 can be UTF-8 bytes).
    """
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return value.strip()


def _payload_hash(headers: Mapping[str, str], signed_headers: Sequence[str], body: bytes) -> str:
    if not body:
        return _EMPTY_SHA256
    actual = hashlib.sha256(body).hexdigest()
    if HEADER_CONTENT_SHA in signed_headers and HEADER_CONTENT_SHA in headers:
        declared = _header_text(headers[HEADER_CONTENT_SHA])
        if declared == UNSIGNED_PAYLOAD:
            return UNSIGNED_PAYLOAD
        if declared.lower() != actual:
            raise SignatureError("X-Sdk-Content-Sha256 does not match the request body")
        return declared
    return actual


def canonical_request(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    *,
    keep_repeated_order: bool = False,
) -> str:
    """Build the canonical request string.

    ``raw_path``/``query_string`` as sent on the wire (percent-encoded, no ``?``);
    ``headers`` maps lowercase names to values as the server decoded them
    (ISO-8859-1; repeated headers joined with ``,``); ``signed_headers`` is the
    client's list, used in its order.  ``keep_repeated_order`` keeps repeated
    query values in wire order instead of sorting them (SDK numeric-sort quirk).
    Raises :class:`SignatureError` if a signed header is missing.
    """
    lines = []
    for name in signed_headers:
        name = name.lower()
        if name not in headers:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}:{_header_text(headers[name])}\n")
    return "\n".join(
        (
            method.upper(),
            _canonical_uri(raw_path),
            canonical_query(query_string, keep_repeated_order=keep_repeated_order),
            "".join(lines),
            ";".join(h.lower() for h in signed_headers),
            _payload_hash(headers, [h.lower() for h in signed_headers], body),
        )
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def sign(secret_key: str, string_to_sign: str) -> str:
    """hex(HMAC-SHA256(key=SK as UTF-8, msg=string to sign))."""
    return hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


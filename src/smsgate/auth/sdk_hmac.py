"""Server-side verification of Huawei Cloud AK/SK signing (``SDK-HMAC-SHA256``).

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
  that order.  :func:`verify` therefore also accepts a canonical query in
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote, urlsplit

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

ALGORITHM = "SDK-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

#: how far X-Sdk-Date may be from the server's clock
MAX_SKEW = timedelta(minutes=15)

_HEADER_DATE = "x-sdk-date"
_HEADER_CONTENT_SHA = "x-sdk-content-sha256"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# RFC 9110 token characters, used for header names.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ACCESS_KEY_RE = re.compile(r"[^\s,;=]+")


class SignatureError(Exception):
    """The request is not (validly) signed.  ``reason`` is human-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def _canonical_query(query_string: str, *, keep_repeated_order: bool = False) -> str:
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
    if _HEADER_CONTENT_SHA in signed_headers and _HEADER_CONTENT_SHA in headers:
        declared = _header_text(headers[_HEADER_CONTENT_SHA])
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
            _canonical_query(query_string, keep_repeated_order=keep_repeated_order),
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
    if _HEADER_DATE not in signed:
        raise SignatureError("the x-sdk-date header must be signed")
    for name in signed:
        if name not in headers:
            raise SignatureError(f"signed header {name!r} is missing from the request")

    sdk_date = headers[_HEADER_DATE].strip()
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
    if _canonical_query(query_string) != _canonical_query(query_string, keep_repeated_order=True):
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


# --------------------------------------------------------------------------
# Client side (tests, bench, CLI)


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    *,
    date: datetime | None = None,
    sign_headers: Iterable[str] = (),
    unsigned_payload: bool = False,
) -> dict[str, str]:
    """Sign a request the way Huawei's SDK would; return the headers to add.

    ``url`` is absolute (``https://host:port/path?query``) or just
    ``/path?query``, percent-encoded as it will go on the wire.  ``headers`` are
    the request headers you will send (any case; non-ASCII values are signed as
    their text and must be sent as UTF-8 bytes).  Signed: ``host``,
    ``x-sdk-date``, ``content-type`` if present, any names in
    ``sign_headers`` (must be present in ``headers``), and with
    ``unsigned_payload=True`` an added ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD``.
    ``date`` defaults to now (naive = UTC).

    Returns ``{"X-Sdk-Date": ..., "Authorization": ...}`` plus ``"Host"`` (the
    URL's host[:port], sent verbatim) when ``headers`` has no Host, and
    ``"X-Sdk-Content-Sha256"`` when requested.  Merge it into your headers.
    """
    parts = urlsplit(url)
    wire: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname in wire:
            raise ValueError(f"header {name!r} given twice")
        # What the server will see: the UTF-8 bytes, decoded as ISO-8859-1.
        wire[lname] = str(value).strip().encode("utf-8").decode("latin-1")
    for reserved in ("authorization", _HEADER_DATE):
        if reserved in wire:
            raise ValueError(f"headers already contain {reserved!r}")

    added: dict[str, str] = {}
    if "host" not in wire:
        host = parts.netloc.rpartition("@")[2]
        if not host:
            raise ValueError("need a Host header or an absolute URL")
        added["Host"] = wire["host"] = host
    added["X-Sdk-Date"] = wire[_HEADER_DATE] = format_sdk_date(date or datetime.now(timezone.utc))
    if unsigned_payload:
        added["X-Sdk-Content-Sha256"] = wire[_HEADER_CONTENT_SHA] = UNSIGNED_PAYLOAD

    signed = {"host", _HEADER_DATE}
    if "content-type" in wire:
        signed.add("content-type")
    if unsigned_payload:
        signed.add(_HEADER_CONTENT_SHA)
    for name in sign_headers:
        if name.lower() not in wire:
            raise ValueError(f"cannot sign absent header {name!r}")
        signed.add(name.lower())
    ordered = sorted(signed)

    canonical = canonical_request(method, parts.path or "/", parts.query, wire, ordered, body)
    signature = sign(secret_key, string_to_sign(canonical, wire[_HEADER_DATE]))
    added["Authorization"] = f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(ordered)}, Signature={signature}"
    return added

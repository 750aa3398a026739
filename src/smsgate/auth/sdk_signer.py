"""Signing a request the way Huawei's SDK does (``SDK-HMAC-SHA256``), for the clients this
repository has: ``smsgate send`` / ``check``, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from urllib.parse import urlsplit

from smsgate.auth.sdk_canonical import (
    ALGORITHM,
    HEADER_CONTENT_SHA,
    HEADER_DATE,
    UNSIGNED_PAYLOAD,
    canonical_request,
    format_sdk_date,
    sign,
    string_to_sign,
)


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
    wire = _wire_headers(headers)
    added = _added_headers(wire, parts.netloc, date, unsigned_payload)
    ordered = _signed_names(wire, sign_headers, unsigned_payload)
    canonical = canonical_request(method, parts.path or "/", parts.query, wire, ordered, body)
    signature = sign(secret_key, string_to_sign(canonical, wire[HEADER_DATE]))
    added["Authorization"] = f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(ordered)}, Signature={signature}"
    return added


def _wire_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as the server will see them (lowercase names; values as their UTF-8 bytes
    decoded as ISO-8859-1); none of them may be one the signature adds."""
    wire: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname in wire:
            raise ValueError(f"header {name!r} given twice")
        wire[lname] = str(value).strip().encode("utf-8").decode("latin-1")
    for reserved in ("authorization", HEADER_DATE):
        if reserved in wire:
            raise ValueError(f"headers already contain {reserved!r}")
    return wire


def _added_headers(wire: dict[str, str], netloc: str, date: datetime | None,
                   unsigned_payload: bool) -> dict[str, str]:
    """The headers the signature needs that the caller did not give (Host from the URL, the
    date, the unsigned-payload mark); ``wire`` gets them too."""
    added: dict[str, str] = {}
    if "host" not in wire:
        host = netloc.rpartition("@")[2]
        if not host:
            raise ValueError("need a Host header or an absolute URL")
        added["Host"] = wire["host"] = host
    added["X-Sdk-Date"] = wire[HEADER_DATE] = format_sdk_date(date or datetime.now(timezone.utc))
    if unsigned_payload:
        added["X-Sdk-Content-Sha256"] = wire[HEADER_CONTENT_SHA] = UNSIGNED_PAYLOAD
    return added


def _signed_names(wire: Mapping[str, str], sign_headers: Iterable[str], unsigned_payload: bool) -> list[str]:
    """The names signed, sorted: host, the date, content-type if sent, the unsigned-payload
    mark if asked for, and ``sign_headers`` (each must be sent)."""
    signed = {"host", HEADER_DATE}
    if "content-type" in wire:
        signed.add("content-type")
    if unsigned_payload:
        signed.add(HEADER_CONTENT_SHA)
    for name in sign_headers:
        if name.lower() not in wire:
            raise ValueError(f"cannot sign absent header {name!r}")
        signed.add(name.lower())
    return sorted(signed)

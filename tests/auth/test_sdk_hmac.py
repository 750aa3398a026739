"""Tests for SDK-HMAC-SHA256 verification, with Huawei's own SDK signer as oracle."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from requests.utils import requote_uri

from smsgate.auth.sdk_hmac import (
    ALGORITHM,
    AuthorizationHeader,
    SignatureError,
    canonical_request,
    parse_authorization,
    parse_sdk_date,
    sign,
    sign_request,
    string_to_sign,
    verify,
)

AK = "HPUAEXAMPLEAK0001"
SK = "s3cr3t-SK-ÄÖ-example"
PROJECT = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
HOST = "smn.example.com:8443"
DATE = datetime(2024, 5, 17, 8, 30, 0, tzinfo=timezone.utc)
DATE_STR = "20240517T083000Z"
PATH = f"/v2/{PROJECT}/notifications/sms/promotion"


def lookup(ak: str) -> str | None:
    return SK if ak == AK else None


# --------------------------------------------------------------------------
# The SDK as oracle


class RecordingSigner(Signer):
    """The SDK's signer, remembering the canonical request it hashed."""

    canonical: str | None = None

    def _process_string_to_sign(self, canonical_request, time):
        self.canonical = canonical_request
        return super()._process_string_to_sign(canonical_request, time)


def sdk_sign(method, resource_path, query_params, header_params, body, sk=SK, date=DATE_STR):
    """Let huaweicloudsdkcore sign, then return what a server would receive."""
    headers = dict(header_params)
    if date is not None:
        headers["X-Sdk-Date"] = date
    req = SdkRequest(
        method=method,
        schema="https",
        host=HOST,
        resource_path=resource_path,
        query_params=list(query_params),
        header_params=headers,
        body=body,
    )
    signer = RecordingSigner(BasicCredentials(AK, sk, PROJECT))
    signer.sign(req)
    # requests re-quotes the URL before sending; headers go out latin-1 encoded
    # (the SDK already turned them into UTF-8-bytes-as-latin-1 strings).
    wire = urlsplit(requote_uri(req.uri))
    raw_body = req.body if isinstance(req.body, bytes) else (req.body or "").encode("utf-8")
    return {
        "method": req.method,
        "raw_path": wire.path,
        "query_string": wire.query,
        "headers": {k.lower(): v for k, v in req.header_params.items()},
        "body": raw_body,
    }, signer.canonical


PROMOTION_BODY = json.dumps(
    {"from": "Huawei", "to": ["+8613800000000", "+8613900000000"], "body": "限时优惠 50% off & more"},
    ensure_ascii=False,
)
PROMOTION_QUERY = [
    ("tag", "b"),
    ("tag", "a"),
    ("empty", ""),
    ("名字", "值 value"),
    ("reserved", "a+b=c&d/e?f#g%h"),
    ("tilde~_-.", "~unreserved._-"),
]
PROMOTION_HEADERS = {
    "Host": HOST,
    "Content-Type": "application/json;charset=UTF-8",
    "X-Project-Id": PROJECT,
    "User-Agent": "huaweicloud-usdk-python/3.0; smsgate-test",
}


def test_sdk_signed_promotion_request_verifies_and_canonical_matches():
    wire, sdk_canonical = sdk_sign("POST", PATH, PROMOTION_QUERY, PROMOTION_HEADERS, PROMOTION_BODY)
    auth = parse_authorization(wire["headers"]["authorization"])
    assert auth.signed_headers == ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")
    assert wire["headers"]["host"] == HOST

    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    ours = canonical_request(
        wire["method"], wire["raw_path"], wire["query_string"], wire["headers"], auth.signed_headers, wire["body"]
    )
    assert ours == sdk_canonical
    # The canonical form itself (spot checks of the encoding rules).
    lines = ours.split("\n")
    assert lines[1] == PATH + "/"
    assert lines[2] == (
        "empty=&reserved=a%2Bb%3Dc%26d%2Fe%3Ff%23g%25h&tag=a&tag=b&tilde~_-.=~unreserved._-"
        "&%E5%90%8D%E5%AD%97=%E5%80%BC%20value"
    )
    assert lines[-1] == hashlib.sha256(PROMOTION_BODY.encode()).hexdigest()


def test_sdk_signed_with_wrong_secret_is_refused():
    wire, _ = sdk_sign("POST", PATH, PROMOTION_QUERY, PROMOTION_HEADERS, PROMOTION_BODY, sk="other")
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_sdk_non_ascii_header_value_verifies():
    headers = dict(PROMOTION_HEADERS, **{"X-Sender-Name": "  华为 Café voilà\u00a0"})
    wire, sdk_canonical = sdk_sign("POST", PATH, [], headers, PROMOTION_BODY)
    # On the wire this is UTF-8, which a server decodes as ISO-8859-1.
    assert wire["headers"]["x-sender-name"] == "华为 Café voilà".encode().decode("latin-1")
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    auth = parse_authorization(wire["headers"]["authorization"])
    assert (
        canonical_request("POST", wire["raw_path"], "", wire["headers"], auth.signed_headers, wire["body"])
        == sdk_canonical
    )


def test_sdk_numeric_repeated_query_values_verify():
    # The SDK sorts typed values: 9 < 10 numerically, and sends ?n=9&n=10.
    wire, sdk_canonical = sdk_sign("GET", PATH, [("n", 10), ("n", 9), ("flag", True)], PROMOTION_HEADERS, "")
    assert wire["query_string"] == "flag=true&n=9&n=10"
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    auth = parse_authorization(wire["headers"]["authorization"])
    assert (
        canonical_request(
            "GET", wire["raw_path"], wire["query_string"], wire["headers"], auth.signed_headers, b"",
            keep_repeated_order=True,
        )
        == sdk_canonical
    )
    # ...but the parameters themselves are still covered.
    with pytest.raises(SignatureError):
        verify(**dict(wire, query_string="flag=true&n=9&n=11"), lookup_secret=lookup, now=DATE)


def test_sdk_path_params_with_slash_and_unicode_verify():
    # The SDK client fills path params with quote(v, safe="").
    path = "/v2/" + quote("proj/é 1", safe="") + "/notifications/" + quote("a:b@c", safe="")
    wire, sdk_canonical = sdk_sign("DELETE", path, [], PROMOTION_HEADERS, "")
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    auth = parse_authorization(wire["headers"]["authorization"])
    assert canonical_request("DELETE", wire["raw_path"], "", wire["headers"], auth.signed_headers, b"") == sdk_canonical
    assert sdk_canonical.split("\n")[1] == "/v2/proj/%C3%A9%201/notifications/a%3Ab%40c/"


def test_sdk_unsigned_payload_for_non_json_content_type():
    headers = dict(PROMOTION_HEADERS, **{"Content-Type": "text/plain"})
    wire, sdk_canonical = sdk_sign("POST", PATH, [], headers, "hello")
    assert wire["headers"]["x-sdk-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert sdk_canonical.endswith("\nUNSIGNED-PAYLOAD")
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    # The body is deliberately not covered by the signature.
    assert verify(**dict(wire, body=b"tampered"), lookup_secret=lookup, now=DATE) == AK


# --------------------------------------------------------------------------
# Hypothesis: SDK signer output on random inputs is accepted

header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=20
)
query_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
segment_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
extra_header_names = st.sampled_from(["x-a", "x-custom-header", "accept", "x-request-id", "x-b-1"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    segments=st.lists(segment_text, max_size=4),
    query=st.lists(st.tuples(query_text, query_text), max_size=6),
    extra=st.dictionaries(extra_header_names, header_text, max_size=4),
    body=st.binary(max_size=64),
)
def test_sdk_signed_random_requests_verify(method, segments, query, extra, body):
    path = "/v2/" + "/".join(quote(s, safe="") for s in segments)
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT, **extra}
    wire, sdk_canonical = sdk_sign(method, path, query, headers, body)
    auth = parse_authorization(wire["headers"]["authorization"])
    assert (
        canonical_request(
            method, wire["raw_path"], wire["query_string"], wire["headers"], auth.signed_headers, wire["body"]
        )
        == sdk_canonical
    )
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK


# --------------------------------------------------------------------------
# Hypothesis: our sign_request round-trips, and tampering is detected

# Path segments as a client puts them on the wire: fully encoded, or with the
# sub-delims/":"/"@" that are legal raw in a path.
raw_segment = st.builds(
    lambda s, raw: quote(s, safe="!$&'()*+,;=:@" if raw else ""),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10),
    st.booleans(),
)
raw_path_st = st.builds(lambda segs: "/" + "/".join(segs), st.lists(raw_segment, max_size=4))
query_st = st.builds(
    lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs),
    st.lists(st.tuples(query_text, query_text), max_size=5),
)
custom_headers_st = st.dictionaries(
    st.sampled_from(["X-Project-Id", "User-Agent", "X-Trace", "Accept", "X-Sender"]), header_text, max_size=4
)


def to_server_headers(headers: dict[str, str]) -> dict[str, str]:
    """What a WSGI/ASGI server hands over: lowercase names, UTF-8 bytes seen as latin-1, OWS trimmed."""
    return {k.lower(): v.encode("utf-8").decode("latin-1").strip(" \t") for k, v in headers.items()}


def signed_wire(method, raw_path, query, custom, body, content_type):
    headers = dict(custom)
    if content_type:
        headers["Content-Type"] = content_type
    url = f"https://{HOST}{raw_path}" + (f"?{query}" if query else "")
    added = sign_request(method, url, headers, body, AK, SK, date=DATE, sign_headers=list(custom))
    return {
        "method": method,
        "raw_path": raw_path,
        "query_string": query,
        "headers": to_server_headers({**headers, **added}),
        "body": body,
    }


request_st = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
        "raw_path": raw_path_st,
        "query": query_st,
        "custom": custom_headers_st,
        "body": st.binary(max_size=64),
        "content_type": st.sampled_from([None, "application/json;charset=UTF-8", "text/plain"]),
    }
)


@settings(max_examples=200, deadline=None)
@given(req=request_st)
def test_sign_request_round_trip(req):
    wire = signed_wire(**req)
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK


@settings(max_examples=200, deadline=None)
@given(req=request_st, data=st.data())
def test_tampering_is_detected(req, data):
    wire = signed_wire(**req)
    tamper = data.draw(st.sampled_from(["body", "header", "method", "path", "query", "query_drop"]))
    if tamper == "body":
        assume(wire["body"])
        i = data.draw(st.integers(0, len(wire["body"]) - 1))
        flip = data.draw(st.integers(1, 255))
        body = bytearray(wire["body"])
        body[i] ^= flip
        wire["body"] = bytes(body)
    elif tamper == "header":
        signed = parse_authorization(wire["headers"]["authorization"]).signed_headers
        name = data.draw(st.sampled_from(signed))
        wire["headers"][name] += data.draw(st.sampled_from(["x", "0", "é".encode().decode("latin-1")]))
    elif tamper == "method":
        wire["method"] = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]).filter(
            lambda m: m != wire["method"]))
    elif tamper == "path":
        wire["raw_path"] += data.draw(st.sampled_from(["x", "/x", "%20", "/%C3%A9"]))
    elif tamper == "query":
        extra = "tampered=" + quote(data.draw(query_text), safe="")
        wire["query_string"] = f"{wire['query_string']}&{extra}" if wire["query_string"] else extra
    else:
        assume(wire["query_string"])
        wire["query_string"] = wire["query_string"].split("&", 1)[1] if "&" in wire["query_string"] else ""
    with pytest.raises(SignatureError):
        verify(**wire, lookup_secret=lookup, now=DATE)


# --------------------------------------------------------------------------
# Clock skew, keys, required headers, malformed input


def simple_wire(date=DATE, **kw):
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT}
    body = kw.pop("body", b'{"to":["+8613800000000"]}')
    added = sign_request(
        "POST", f"https://{HOST}{PATH}?a=1", headers, body, AK, SK, date=date, sign_headers=["X-Project-Id"], **kw
    )
    return {
        "method": "POST",
        "raw_path": PATH,
        "query_string": "a=1",
        "headers": to_server_headers({**headers, **added}),
        "body": body,
    }


@pytest.mark.parametrize("minutes", [14, -14, 15, -15])
def test_clock_skew_within_window_accepted(minutes):
    assert verify(**simple_wire(), lookup_secret=lookup, now=DATE + timedelta(minutes=minutes)) == AK


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew_outside_window_refused(minutes):
    with pytest.raises(SignatureError, match="clock skew") as exc:
        verify(**simple_wire(), lookup_secret=lookup, now=DATE + timedelta(minutes=minutes))
    assert "X-Sdk-Date" in exc.value.reason


def test_skew_is_checked_against_real_clock_by_default():
    stale = simple_wire(date=datetime.now(timezone.utc) - timedelta(hours=1))
    with pytest.raises(SignatureError, match="clock skew"):
        verify(**stale, lookup_secret=lookup)
    fresh = simple_wire(date=datetime.now(timezone.utc))
    assert verify(**fresh, lookup_secret=lookup) == AK


def test_unknown_access_key_refused():
    with pytest.raises(SignatureError, match="unknown access key"):
        verify(**simple_wire(), lookup_secret=lambda ak: None, now=DATE)


def test_lookup_receives_the_access_key():
    seen = []
    verify(**simple_wire(), lookup_secret=lambda ak: seen.append(ak) or SK, now=DATE)
    assert seen == [AK]


def _resign(wire, signed_headers, secret=SK):
    """Correctly sign ``wire`` over an arbitrary SignedHeaders list."""
    canonical = canonical_request(
        wire["method"], wire["raw_path"], wire["query_string"], wire["headers"], signed_headers, wire["body"]
    )
    sig = sign(secret, string_to_sign(canonical, wire["headers"]["x-sdk-date"]))
    wire["headers"]["authorization"] = (
        f"{ALGORITHM} Access={AK}, SignedHeaders={';'.join(signed_headers)}, Signature={sig}"
    )
    return wire


def test_host_not_signed_refused_even_if_signature_valid():
    wire = _resign(simple_wire(), ["content-type", "x-sdk-date"])
    with pytest.raises(SignatureError, match="host"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_date_not_signed_refused_even_if_signature_valid():
    wire = _resign(simple_wire(), ["content-type", "host"])
    with pytest.raises(SignatureError, match="x-sdk-date"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_signed_header_missing_from_request_refused():
    wire = simple_wire()
    del wire["headers"]["content-type"]
    with pytest.raises(SignatureError, match="'content-type' is missing"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_extra_unsigned_headers_do_not_matter_but_signed_ones_do():
    wire = simple_wire()
    wire["headers"]["x-forwarded-for"] = "10.0.0.1"
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    wire["headers"]["host"] = "evil.example.com:8443"
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_header_value_whitespace_is_trimmed_and_name_case_ignored():
    wire = simple_wire()
    assert "x-project-id" in parse_authorization(wire["headers"]["authorization"]).signed_headers
    wire["headers"]["x-project-id"] = f"  {PROJECT}\t"
    wire["headers"] = {k.title(): v for k, v in wire["headers"].items()}
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK


def test_equivalent_wire_forms_verify():
    headers = {"Host": HOST}
    added = sign_request("GET", f"{PATH}?b=2&a=%C3%A9&a=x", headers, b"", AK, SK, date=DATE)
    wire = {
        "method": "GET",
        # Path: %-encoding of unreserved chars and a trailing slash are not significant.
        "raw_path": PATH.replace("v2", "%76%32") + "/",
        # Query: pair order, %-encoding case and raw vs encoded text are not significant.
        "query_string": "a=x&a=%c3%a9&b=%32",
        "headers": to_server_headers({**headers, **added}),
        "body": b"",
    }
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK


def test_query_canonicalisation_details():
    headers = {"host": HOST, "x-sdk-date": DATE_STR}
    canon = canonical_request("get", "/p", "b=2&a&a=1&a=%7E&c=x+y&d=x%2By", headers, ["host", "x-sdk-date"], b"")
    method, uri, query = canon.split("\n")[:3]
    assert method == "GET"
    assert uri == "/p/"
    assert query == "a=&a=1&a=~&b=2&c=x%20y&d=x%2By"


@pytest.mark.parametrize(
    "value, reason",
    [
        ("", "missing Authorization"),
        ("SDK-HMAC-SM3 Access=a, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64, "unsupported"),
        ("Bearer abc", "unsupported"),
        (ALGORITHM, "malformed"),
        (f"{ALGORITHM} Access=a, SignedHeaders=host;x-sdk-date", "missing Signature"),
        (f"{ALGORITHM} Access=a, SignedHeaders=host;x-sdk-date, Signature=xyz", "64 hex"),
        (f"{ALGORITHM} Access=, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64, "missing Access"),
        (f"{ALGORITHM} Access=a, SignedHeaders=host;;x-sdk-date, Signature=" + "0" * 64, "signed header name"),
        (f"{ALGORITHM} Access=a, SignedHeaders=host;host, Signature=" + "0" * 64, "duplicate"),
        (f"{ALGORITHM} Access=a, Access=b, SignedHeaders=host, Signature=" + "0" * 64, "duplicate"),
        (f"{ALGORITHM} Access=a, SignedHeaders=host, Signature=" + "0" * 64 + ", Extra=1", "unknown field"),
        (f"{ALGORITHM} Access=a SignedHeaders=host Signature=" + "0" * 64, "malformed"),
    ],
)
def test_malformed_authorization_refused_with_reason(value, reason):
    wire = simple_wire()
    wire["headers"]["authorization"] = value
    with pytest.raises(SignatureError, match=reason) as exc:
        verify(**wire, lookup_secret=lookup, now=DATE)
    assert exc.value.reason == str(exc.value)


def test_missing_authorization_refused():
    wire = simple_wire()
    del wire["headers"]["authorization"]
    with pytest.raises(SignatureError, match="missing Authorization"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_parse_authorization_sdk_format():
    sig = "ab" * 32
    assert parse_authorization(
        f"{ALGORITHM} Access=AK1, SignedHeaders=Content-Type;host;x-sdk-date, Signature={sig.upper()}"
    ) == AuthorizationHeader("AK1", ("content-type", "host", "x-sdk-date"), sig)


@pytest.mark.parametrize("value", ["", "2024-05-17T08:30:00Z", "20240517T083000", "20241317T083000Z",
                                   "20240517T253000Z", "2024517T083000Z", "20240517t083000z", "٢٠٢٤0517T083000Z"])
def test_malformed_date_refused(value):
    with pytest.raises(SignatureError, match="X-Sdk-Date"):
        parse_sdk_date(value)
    wire = simple_wire()
    wire["headers"]["x-sdk-date"] = value
    with pytest.raises(SignatureError, match="X-Sdk-Date"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_parse_sdk_date():
    assert parse_sdk_date(DATE_STR) == DATE
    assert parse_sdk_date(DATE_STR).utcoffset() == timedelta(0)


def test_sign_known_vector():
    # HMAC-SHA256 RFC 4231 test case 2.
    assert sign("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_unsigned_payload_when_signed():
    wire = simple_wire(unsigned_payload=True)
    assert wire["headers"]["x-sdk-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    wire["body"] = b"anything else"
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK


def test_unsigned_payload_header_ignored_when_not_signed():
    wire = simple_wire()
    # Adding the header afterwards (unsigned) must not turn off body protection...
    wire["headers"]["x-sdk-content-sha256"] = "UNSIGNED-PAYLOAD"
    assert verify(**wire, lookup_secret=lookup, now=DATE) == AK
    wire["body"] = b"tampered"
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(**wire, lookup_secret=lookup, now=DATE)


def test_unsigned_payload_with_empty_body_hashes_empty_body_like_the_sdk():
    headers = {"host": HOST, "x-sdk-date": DATE_STR, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}
    canon = canonical_request("GET", "/", "", headers, sorted(headers), b"")
    assert canon.endswith("\n" + hashlib.sha256(b"").hexdigest())


def test_explicit_content_sha256_must_match_body():
    body = b'{"x":1}'
    headers = {"host": HOST, "x-sdk-date": DATE_STR, "x-sdk-content-sha256": hashlib.sha256(body).hexdigest()}
    canon = canonical_request("POST", "/", "", headers, sorted(headers), body)
    assert canon.endswith("\n" + hashlib.sha256(body).hexdigest())
    with pytest.raises(SignatureError, match="X-Sdk-Content-Sha256"):
        canonical_request("POST", "/", "", headers, sorted(headers), b"other")


def test_sign_request_headers_and_errors():
    added = sign_request("POST", f"https://{HOST}{PATH}", {"Content-Type": "application/json"}, b"{}", AK, SK,
                         date=DATE)
    assert set(added) == {"Host", "X-Sdk-Date", "Authorization"}
    assert added["Host"] == HOST and added["X-Sdk-Date"] == DATE_STR
    assert parse_authorization(added["Authorization"]).signed_headers == ("content-type", "host", "x-sdk-date")
    with pytest.raises(ValueError):
        sign_request("GET", "/no-host", {}, b"", AK, SK)
    with pytest.raises(ValueError):
        sign_request("GET", f"https://{HOST}/", {"X-Sdk-Date": DATE_STR}, b"", AK, SK)
    with pytest.raises(ValueError):
        sign_request("GET", f"https://{HOST}/", {}, b"", AK, SK, sign_headers=["x-absent"])


def test_sign_request_output_accepted_by_sdk_canonicalisation():
    """Cross-check our client helper against the SDK for the same request."""
    headers = {"Host": HOST, "Content-Type": "application/json", "X-Project-Id": PROJECT}
    body = b'{"a": 1}'
    wire, sdk_canonical = sdk_sign("POST", PATH, [("q", "1 2"), ("p", "")], headers, body.decode())
    added = sign_request("POST", f"{PATH}?{wire['query_string']}", headers, body, AK, SK, date=DATE,
                         sign_headers=["x-project-id"])
    assert added["Authorization"] == wire["headers"]["authorization"]


# --------------------------------------------------------------------------
# Headers first, body after (a server checks what it can before reading the body)


def test_the_headers_are_checked_without_the_body():
    from smsgate.auth.sdk_hmac import check_headers, verify_signature

    wire = simple_wire()
    for refused in (dict(lookup_secret=lambda ak: None, now=DATE),  # unknown access key
                    dict(lookup_secret=lookup, now=DATE + timedelta(minutes=16))):  # stale date
        with pytest.raises(SignatureError):
            check_headers(headers=wire["headers"], **refused)
    presented = check_headers(headers=wire["headers"], lookup_secret=lookup, now=DATE)
    assert presented.access_key == AK and SK not in repr(presented)
    rest = {k: v for k, v in wire.items() if k != "body"}
    assert verify_signature(presented, **rest, body=wire["body"]) == AK
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify_signature(presented, **rest, body=wire["body"] + b" ")

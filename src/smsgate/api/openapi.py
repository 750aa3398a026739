"""``/openapi.json``, generated from the route table (``api.app``).

Each route of the public API is a :class:`DocumentedRoute` carrying its :class:`Doc` (summary,
query parameters, the struct it decodes, the struct it answers, the errors it may add), and
:func:`document` walks them: a route cannot be served without being documented, nor documented
without being served.  Path parameters are read from the route's path; schemas come from the
msgspec structs themselves, so they cannot drift either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import msgspec
from starlette.routing import Route

from smsgate import __version__
from smsgate.api import schemas
from smsgate.store.outbox import EVENT_TYPES

_REF = "#/components/schemas/{name}"
#: a project token or an AK/SK signature, either
SECURITY: tuple[dict, ...] = ({"token": []}, {"aksk": []})
AKSK_ONLY: tuple[dict, ...] = ({"aksk": []},)
_ERROR_STATUSES = ("400", "401", "403", "413", "415")
#: every error answer is one of these
_ERROR_STRUCTS = (schemas.ErrorBody, schemas.GatewayErrorBody)


def _json(struct: type) -> dict:
    return {"application/json": {"schema": {"$ref": _REF.format(name=struct.__name__)}}}


def answers(ok: type, ok_status: str = "200", *extra: str) -> dict:
    """``ok`` (a struct) under ``ok_status``, and the errors every call may get, plus ``extra``
    statuses (``"404"``)."""
    found = {ok_status: {"description": "OK", "content": _json(ok)}}
    for status in (*_ERROR_STATUSES, *extra):
        body = schemas.GatewayErrorBody if status == "401" else schemas.ErrorBody
        found[status] = {"description": "error", "content": _json(body)}
    return found


def query(name: str, **schema: object) -> dict:
    """An optional query parameter, a string (``pattern``, ``enum``… in ``schema``)."""
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string", **schema}}


def _path_param(name: str, **schema: object) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", **schema}}


@dataclass(frozen=True)
class Doc:
    """What ``/openapi.json`` says of one route.  ``ok`` (the struct of the answer, under
    ``ok_status``) and ``errors`` (statuses beyond the common ones) make its ``responses``,
    unless ``responses`` is given as is (then ``structs`` names the structs it refers to)."""

    operation_id: str
    summary: str
    ok: type | None = None
    ok_status: str = "200"
    errors: tuple[str, ...] = ()
    body: type | None = None
    #: other bodies the route takes (the template call beside the headline call's)
    alternatives: tuple[type, ...] = ()
    query: tuple[dict, ...] = ()
    #: schema details of path parameters (``{"message_id": {"pattern": ...}}``)
    path: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    security: tuple[dict, ...] | None = SECURITY
    responses: Callable[[], dict] | None = None
    structs: tuple[type, ...] = ()

    def operation(self, path: str, params: Iterable[str]) -> dict:
        found: dict[str, object] = {"operationId": self.operation_id, "summary": self.summary}
        parameters = [_path_param(p, **self.path.get(p, {})) for p in params] + list(self.query)
        if parameters:
            found["parameters"] = parameters
        if self.security is not None:
            found["security"] = list(self.security)
        if self.body is not None:
            content = _json(self.body)
            if self.alternatives:
                schemas_ = [_json(b)["application/json"]["schema"] for b in (self.body, *self.alternatives)]
                content = {"application/json": {"schema": {"anyOf": schemas_}}}
            found["requestBody"] = {"required": True, "content": content}
        if self.responses is not None:
            found["responses"] = self.responses()
        else:
            assert self.ok is not None, f"{path}: a Doc needs ok or responses"
            found["responses"] = answers(self.ok, self.ok_status, *self.errors)
        return found

    def referenced(self) -> tuple[type, ...]:
        return tuple(s for s in (self.body, *self.alternatives, self.ok, *self.structs) if s is not None)


class DocumentedRoute(Route):
    """A route of the public API, with its one method and its :class:`Doc`."""

    def __init__(self, path: str, endpoint: Callable, method: str, doc: Doc) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.doc = doc


def document(routes: Iterable[Route]) -> dict:
    """The OpenAPI 3.1 document of the documented ones among ``routes``."""
    paths: dict[str, dict] = {}
    structs: dict[type, None] = {}
    for route in routes:
        if isinstance(route, DocumentedRoute):
            params = route.param_convertors.keys()
            paths.setdefault(route.path, {})[route.method] = route.doc.operation(route.path, params)
            structs.update(dict.fromkeys(route.doc.referenced()))
    structs.update(dict.fromkeys(_ERROR_STRUCTS))
    _, components = msgspec.json.schema_components(list(structs), ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "smsgate: Huawei SMN v2 SMS API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "aksk": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...",
                },
            },
        },
    }


# --- what several routes' documents share ----------------------------------------------------

_DIGITS = {"pattern": "^[0-9]{1,15}$"}
MESSAGE_ID = {"pattern": "^[0-9a-f]{32}$"}

REPORT_QUERY = (
    query("start_time", **_DIGITS),
    query("end_time", **_DIGITS),
    query("sign_id"),
    query("message_id", **MESSAGE_ID),
    query("mobile", pattern="^\\+?[0-9]{5,15}$"),
    query("status", enum=["0", "1", "2"]),
    query("offset", pattern="^[0-9]{1,9}$"),
    query("limit", pattern="^([1-9]|[1-9][0-9]|100)$"),
)
TEMPLATE_QUERY = (
    query("offset", pattern="^[0-9]{1,9}$"),
    query("limit", pattern="^([1-9]|[1-9][0-9]|100)$"),
    query("sms_template_name"),
    query("sms_template_type", enum=["0", "1"]),
    query("status", enum=["0", "3", "4"]),
)
EVENT_TYPE_QUERY = (query("event_type", enum=list(EVENT_TYPES)),)

DRY_RUN = {
    "name": "dry_run",
    "in": "query",
    "required": False,
    "description": (
        "true: run every rule (signature, length and fee_num, unsubscribe text, sensitive words,"
        " opt-outs, daily caps, sending window) and answer each item's result without storing"
        " or sending anything (DryRunResponse: message_id null; sensitive_word_position, fee_num,"
        " encoding, send now or held until held_until, when the window opens in the recipient's"
        " time zones). Any value but true or false is refused (SMN.0024)."
    ),
    "schema": {"type": "string", "enum": ["true", "false"]},
}


def promotion_answers() -> dict:
    """The real call's answer, or with ``dry_run=true`` the dry run's."""
    found = answers(schemas.PromotionResponse, "200", "404")
    ok = _json(schemas.PromotionResponse)["application/json"]["schema"]
    dry = _json(schemas.DryRunResponse)["application/json"]["schema"]
    found["200"]["content"] = {"application/json": {"schema": {"anyOf": [ok, dry]}}}
    return found


def health_answers() -> dict:
    return {
        "200": {"description": "up", "content": _json(schemas.Health)},
        "503": {"description": "store down", "content": _json(schemas.Health)},
    }


def openapi_answers() -> dict:
    return {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}


def metrics_answers() -> dict:
    return {"200": {"description": "text format 0.0.4", "content": {"text/plain": {}}}}

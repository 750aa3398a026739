"""``/openapi.json``: every route, its parameters, bodies and answers.

Schemas come from the msgspec structs the routes decode and encode, so they cannot drift.
"""

from __future__ import annotations

from functools import cache

import msgspec

from smsgate import __version__
from smsgate.api import schemas
from smsgate.store.outbox import EVENT_TYPES

_REF = "#/components/schemas/{name}"
_SECURITY = [{"token": []}, {"aksk": []}]


def _json(name: str) -> dict:
    return {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}


def _answers(ok: str, ok_status: str = "200", *extra: str) -> dict:
    answers = {ok_status: {"description": "OK", "content": _json(ok)}}
    for status in ("400", "401", "403", "413", "415", *extra):
        body = "GatewayErrorBody" if status == "401" else "ErrorBody"
        answers[status] = {"description": "error", "content": _json(body)}
    return answers


def _path_param(name: str, **schema: object) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", **schema}}


def _query(name: str, **schema: object) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string", **schema}}


def _report_params() -> list[dict]:
    digits = {"pattern": "^[0-9]{1,15}$"}
    return [
        _query("start_time", **digits),
        _query("end_time", **digits),
        _query("sign_id"),
        _query("message_id", pattern="^[0-9a-f]{32}$"),
        _query("mobile", pattern="^\\+?[0-9]{5,15}$"),
        _query("status", enum=["0", "1", "2"]),
        _query("offset", pattern="^[0-9]{1,9}$"),
        _query("limit", pattern="^([1-9]|[1-9][0-9]|100)$"),
    ]


_DRY_RUN = {
    "name": "dry_run",
    "in": "query",
    "required": False,
    "description": (
        "true: run every rule (signature, length and fee_num, unsubscribe text, sensitive words,"
        " opt-outs, daily caps, sending window) and answer each item's result without storing"
        " or sending anything (DryRunResponse: message_id null; sensitive_word_position, fee_num,"
        " send now or held until held_until). Any value but true or false is refused (SMN.0024)."
    ),
    "schema": {"type": "string", "enum": ["true", "false"]},
}


def _promotion_answers() -> dict:
    """The real call's answer, or with ``dry_run=true`` the dry run's."""
    answers = _answers("PromotionResponse", "200", "404")
    ok = _json("PromotionResponse")["application/json"]["schema"]
    dry = _json("DryRunResponse")["application/json"]["schema"]
    answers["200"]["content"] = {"application/json": {"schema": {"anyOf": [ok, dry]}}}
    return answers


def _paths() -> dict:
    project = _path_param("project_id")
    return {
        "/v2/{project_id}/notifications/sms/promotion": {
            "post": {
                "operationId": "PromotionSmsBatchPublishWithDiffMessage",
                "summary": "Send promotional SMS, each recipient with its own text (1-999).",
                "parameters": [project, _DRY_RUN],
                "security": _SECURITY,
                "requestBody": {"required": True, "content": _json("PromotionBatch")},
                "responses": _promotion_answers(),
            }
        },
        "/v2/{project_id}/notifications/sms_sign": {
            "get": {
                "operationId": "ListSmsSigns",
                "summary": "List the project's SMS signatures.",
                "parameters": [project],
                "security": _SECURITY,
                "responses": _answers("SignListResponse"),
            }
        },
        "/v2/{project_id}/notifications/sms_sign/{sign_id}": {
            "delete": {
                "operationId": "DeleteSmsSign",
                "summary": "Delete an SMS signature.",
                "parameters": [project, _path_param("sign_id")],
                "security": _SECURITY,
                "responses": _answers("RequestIdBody", "200", "404"),
            }
        },
        "/v2/{project_id}/notifications/sms/report": {
            "get": {
                "operationId": "ListSmsReport",
                "summary": "Delivery status of sent messages, newest first (times in epoch ms).",
                "parameters": [project, *_report_params()],
                "security": _SECURITY,
                "responses": _answers("ReportResponse"),
            }
        },
        "/v2/{project_id}/notifications/sms/message/{message_id}": {
            "get": {
                "operationId": "ShowSmsMessage",
                "summary": "One message's delivery status.",
                "parameters": [project, _path_param("message_id", pattern="^[0-9a-f]{32}$")],
                "security": _SECURITY,
                "responses": _answers("MessageResponse", "200", "404"),
            }
        },
        "/v2/{project_id}/notifications/sms/callback": {
            "get": {
                "operationId": "ListSmsCallback",
                "summary": "The project's callback subscriptions.",
                "parameters": [project, _query("event_type", enum=list(EVENT_TYPES))],
                "security": _SECURITY,
                "responses": _answers("CallbackList"),
            },
            "put": {
                "operationId": "UpdateSmsCallback",
                "summary": "Subscribe event types to an http(s) URL (or an SMN topic URN).",
                "parameters": [project],
                "security": _SECURITY,
                "requestBody": {"required": True, "content": _json("CallbackUpdate")},
                "responses": _answers("RequestIdBody"),
            },
        },
        "/v3/auth/tokens": {
            "post": {
                "operationId": "CreateToken",
                "summary": "Issue a 24 h project token (X-Subject-Token) to an AK/SK-signed call.",
                "security": [{"aksk": []}],
                "responses": _answers("TokenResponse", "201"),
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "OpenApi",
                "summary": "This document.",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "Metrics",
                "summary": "Prometheus metrics: requests, messages, queue depth, SMPP, callbacks.",
                "responses": {"200": {"description": "text format 0.0.4", "content": {"text/plain": {}}}},
            }
        },
        "/healthz": {
            "get": {
                "operationId": "Health",
                "summary": "Whether the service and its store are up.",
                "responses": {
                    "200": {"description": "up", "content": _json("Health")},
                    "503": {"description": "store down", "content": _json("Health")},
                },
            }
        },
    }


@cache
def document() -> dict:
    structs = [
        schemas.PromotionBatch,
        schemas.PromotionResponse,
        schemas.DryRunResponse,
        schemas.ErrorBody,
        schemas.GatewayErrorBody,
        schemas.SignListResponse,
        schemas.RequestIdBody,
        schemas.TokenResponse,
        schemas.Health,
        schemas.ReportResponse,
        schemas.MessageResponse,
        schemas.CallbackList,
        schemas.CallbackUpdate,
    ]
    _, components = msgspec.json.schema_components(structs, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "smsgate: Huawei SMN v2 SMS API", "version": __version__},
        "paths": _paths(),
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

"""``/openapi.json``: every route, its parameters, bodies and answers.

Schemas come from the msgspec structs the routes decode and encode, so they cannot drift.
"""

from __future__ import annotations

from functools import cache

import msgspec

from smsgate import __version__
from smsgate.api import schemas

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


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _paths() -> dict:
    project = _path_param("project_id")
    return {
        "/v2/{project_id}/notifications/sms/promotion": {
            "post": {
                "operationId": "PromotionSmsBatchPublishWithDiffMessage",
                "summary": "Send promotional SMS, each recipient with its own text (1-999).",
                "parameters": [project],
                "security": _SECURITY,
                "requestBody": {"required": True, "content": _json("PromotionBatch")},
                "responses": _answers("PromotionResponse", "200", "404"),
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
        schemas.ErrorBody,
        schemas.GatewayErrorBody,
        schemas.SignListResponse,
        schemas.RequestIdBody,
        schemas.TokenResponse,
        schemas.Health,
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

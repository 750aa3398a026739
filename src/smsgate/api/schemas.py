"""Request and response bodies of the SMN v2 SMS API (SPEC §1, §2, §4), as msgspec structs.

msgspec decodes and validates in C, which matters at 999 items a request; the same structs
generate the OpenAPI schema (``api.openapi``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class SmsMessage(msgspec.Struct, forbid_unknown_fields=True):
    endpoint: str
    message: str
    sign_id: str | None = None
    message_include_sign_flag: bool | str | None = None
    extend_src_id: str | None = None
    extend_code: str | None = None


class PromotionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """PromotionSmsBatchPublishWithDiffMessage, or the template call sharing its path."""

    sms_message: list[SmsMessage] | None = None
    # the template-based promotion call (SPEC §4) posts these instead of sms_message
    sms_template_id: str | None = None
    endpoints: list[str] | None = None
    sign_id: str | None = None
    extend_code: str | None = None


class PromotionBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The body as documented (``/openapi.json``): what is refused as a whole is a schema
    violation; what is refused per item (SPEC §1) is not, since it still answers 200."""

    sms_message: Annotated[list[SmsMessage], msgspec.Meta(min_length=1, max_length=999)]


class LenientRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The same body with items left raw, to refuse bad items one by one."""

    sms_message: list[msgspec.Raw] | None = None
    sms_template_id: str | None = None
    endpoints: list[str] | None = None
    sign_id: str | None = None
    extend_code: str | None = None


class CommitResult(msgspec.Struct, omit_defaults=True):
    endpoint: str
    message_id: str | None = None
    code: str | None = None
    message: str | None = None
    sensitive_word: str | None = None


class PromotionResponse(msgspec.Struct):
    request_id: str
    result: list[CommitResult]


class ErrorBody(msgspec.Struct):
    request_id: str
    code: str
    message: str


class GatewayErrorBody(msgspec.Struct):
    error_code: str
    error_msg: str
    request_id: str


class SmsSign(msgspec.Struct):
    sign_id: str
    sign_name: str
    sign_type: int
    status: int
    reply: str
    create_time: str


class SignListResponse(msgspec.Struct):
    request_id: str
    sms_sign_count: int
    sms_signs: list[SmsSign]


class RequestIdBody(msgspec.Struct):
    request_id: str


class TokenProject(msgspec.Struct):
    id: str
    name: str


class TokenInfo(msgspec.Struct):
    expires_at: str
    issued_at: str
    project: TokenProject


class TokenResponse(msgspec.Struct):
    token: TokenInfo


class Health(msgspec.Struct):
    status: str
    store: str

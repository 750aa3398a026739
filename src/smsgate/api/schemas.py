"""Request and response bodies of the SMN v2 SMS API (SPEC §1, §2, §4), as msgspec structs.

msgspec decodes and validates in C, which matters at 999 items a request; the same structs
generate the OpenAPI schema (``api.openapi``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from smsgate.callbacks.targets import TOPIC_URN_PATTERN


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


class DryRunResult(msgspec.Struct, omit_defaults=True):
    """One item of a dry run (``?dry_run=true``): what the real call would answer, plus why.

    ``message_id`` is always null (nothing is stored).  A refused item has ``code`` and
    ``message`` (and for SMN.0227 ``sensitive_word`` and ``sensitive_word_position``, the
    character offset in the item's ``message`` where the word begins, as the sender spelled it);
    an accepted one has ``fee_num``, ``encoding`` (``gsm7`` or ``ucs2``) and ``send``: ``now``, or
    ``held`` with ``held_until`` (when the sending window opens in the recipient's time zones,
    ``2016-08-02T00:00:00Z``)."""

    endpoint: str
    message_id: None
    code: str | None = None
    message: str | None = None
    sensitive_word: str | None = None
    sensitive_word_position: int | None = None
    fee_num: int | None = None
    encoding: Literal["gsm7", "ucs2"] | None = None
    send: Literal["now", "held"] | None = None
    held_until: str | None = None


class DryRunResponse(msgspec.Struct):
    request_id: str
    dry_run: bool
    result: list[DryRunResult]


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


class NewTemplate(msgspec.Struct, forbid_unknown_fields=True):
    """CreateSmsTemplate's body, as documented."""

    sms_template_name: Annotated[str, msgspec.Meta(min_length=1, max_length=30)]
    sms_template_type: Literal[0, 1]  # 0 notification, 1 promotional
    sms_template_content: Annotated[str, msgspec.Meta(min_length=1, max_length=480)]
    remark: str | None = None


class LenientTemplate(msgspec.Struct, forbid_unknown_fields=True):
    """The same body, each field as sent, so that each bad one gets its own SMN code."""

    sms_template_name: Any = None
    sms_template_type: Any = None
    sms_template_content: Any = None
    remark: Any = None


class TemplateCreated(msgspec.Struct):
    request_id: str
    sms_template_id: str


class SmsTemplate(msgspec.Struct):
    sms_template_id: str
    sms_template_name: str
    sms_template_type: int
    sms_template_content: str
    status: int  # 0 pending, 3 approved, 4 rejected
    reply: str
    create_time: str


class TemplateListResponse(msgspec.Struct):
    request_id: str
    sms_template_count: int
    sms_templates: list[SmsTemplate]


class TemplateResponse(msgspec.Struct):
    """One template (**decision**: its list fields beside request_id, and its remark)."""

    request_id: str
    sms_template_id: str
    sms_template_name: str
    sms_template_type: int
    sms_template_content: str
    status: int
    reply: str
    create_time: str
    remark: str


class TemplateBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The template-based promotion call, on the headline call's path: one approved
    promotional template, signed with ``sign_id``, to 1 to 999 numbers."""

    sms_template_id: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]
    sign_id: str
    endpoints: Annotated[list[str], msgspec.Meta(min_length=1, max_length=999)]
    extend_code: str | None = None


class TemplateForm(msgspec.Struct, forbid_unknown_fields=True):
    """The template call's body as read: endpoints left raw, so that a bad one is refused
    alone; ``sms_message`` only to refuse a body of both forms."""

    sms_template_id: Any = None
    sign_id: Any = None
    endpoints: list[msgspec.Raw] | None = None
    extend_code: str | None = None
    sms_message: msgspec.Raw | None = None


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


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    store: str
    redis: str | None = None  # only when the service uses Redis


class ReportItem(msgspec.Struct):
    message_id: str
    status: int  # 0 sent without receipt, 1 delivered, 2 failed
    sign_id: str
    status_desc: str
    fee_num: int
    extend_code: str
    nation_code: str
    mobile: str
    submit_time: str
    deliver_time: str


class ReportResponse(msgspec.Struct):
    request_id: str
    count: int
    data: list[ReportItem]


class MessageResponse(msgspec.Struct):
    request_id: str
    message: ReportItem


#: batched callback delivery (**decision**, an extension SMN clients never send): at most this
#: many events per POST, and the longest an event may wait for others
BATCH_MAX_EVENTS = 1000
BATCH_MAX_WAIT_MS = 60_000


class CallbackBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A subscription's batched delivery: its events posted as a JSON array of up to
    ``max_events``, the oldest having waited at most ``max_wait_ms`` for the others."""

    max_events: int | float = 100  # a whole number; 100.0 is one too, as JSON Schema has it
    max_wait_ms: int | float = 1000


class Subscription(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    event_type: str
    topic_urn: str
    batch: CallbackBatch | None = None  # absent: one event per POST, as SMN posts them


class ShownBatch(msgspec.Struct):
    max_events: int
    max_wait_ms: int


class ShownSubscription(msgspec.Struct, omit_defaults=True):
    """A subscription as ``GET …/sms/callback`` shows it (``batch`` only where asked for)."""

    event_type: str
    topic_urn: str
    batch: ShownBatch | None = None


class CallbackList(msgspec.Struct):
    request_id: str
    callback: list[ShownSubscription]


class CallbackBody(msgspec.Struct, forbid_unknown_fields=True):
    callback: Annotated[list[Subscription], msgspec.Meta(min_length=1, max_length=3)]


_EVENT = Literal["sms_success_event", "sms_fail_event", "sms_reply_event"]
#: what topic_urn accepts (the pattern callbacks.targets.check_topic_urn checks too)
_URN = Annotated[str, msgspec.Meta(pattern=TOPIC_URN_PATTERN, max_length=2048)]


class DocCallbackBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Batched delivery as documented (an extension: absent, events are posted one by one)."""

    max_events: Annotated[int, msgspec.Meta(ge=1, le=BATCH_MAX_EVENTS)] = 100
    max_wait_ms: Annotated[int, msgspec.Meta(ge=0, le=BATCH_MAX_WAIT_MS)] = 1000


class DocSubscription(msgspec.Struct, forbid_unknown_fields=True):
    """Subscription as documented; decoded as plain strings so a bad event_type gets its own
    SMN code (SMN.0100) instead of the generic one."""

    event_type: _EVENT
    topic_urn: _URN
    batch: DocCallbackBatch | None = None


class CallbackUpdate(msgspec.Struct, forbid_unknown_fields=True):
    callback: Annotated[list[DocSubscription], msgspec.Meta(min_length=1, max_length=3)]

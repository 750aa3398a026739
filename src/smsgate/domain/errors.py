"""The one error model of smsgate.

Every failure the service reports is an :class:`SmsgateError` (or a subclass).  Each class carries
the SMN code, the HTTP status and the default message; the API maps them to responses in exactly
one place (``smsgate.api.errors``).  Per-item refusals of the promotional batch use the same
classes: the item gets ``code`` and ``message``, the batch goes on.

Codes follow SPEC §2.  Codes SPEC does not name are marked **decision** and listed in the README.
"""

from __future__ import annotations


class SmsgateError(Exception):
    """Base of every error smsgate reports to a client."""

    code = "SMN.0018"
    status = 500
    default_message = "Internal error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


# --- whole-request errors ---------------------------------------------------------------------


class BadRequest(SmsgateError):
    """The body is not a valid request (malformed JSON, wrong types, unknown fields...).

    **decision**: SPEC names no generic code; SMN.0024 ("Parameter: content is invalid") is the
    SMN family's closest one.
    """

    code = "SMN.0024"
    status = 400
    default_message = "Parameter: request body is invalid."


class BodyTooLarge(BadRequest):
    status = 413
    default_message = "Request body is too large."


class UnsupportedMediaType(BadRequest):
    status = 415
    default_message = "Content-Type must be application/json."


class RequestTimeout(BadRequest):
    """The request's head or body did not arrive in time (``SMSGATE_HEADER_TIMEOUT``,
    ``SMSGATE_BODY_TIMEOUT``)."""

    status = 408
    default_message = "The request did not arrive in time."


class RequestIncomplete(BadRequest):
    """The client went away before its request body was complete; nobody reads this answer,
    but the request is counted and logged as the client's failure, not the server's."""

    default_message = "The client closed the connection before the request body was complete."


class HeadersTooLarge(BadRequest):
    status = 431
    default_message = "Request line and headers are too large."


class TooManyEndpoints(SmsgateError):
    code = "SMN.0159"
    status = 400
    default_message = "Parameter: the number of messages must be between 1 and 999."


class OffsetLimitInvalid(SmsgateError):
    code = "SMN.0015"
    status = 400
    default_message = "Parameter: Offset or limit is invalid."


class TokenInvalid(SmsgateError):
    code = "SMN.0001"
    status = 403
    default_message = "No permission: the token is invalid or expired."


class NoApiPermission(SmsgateError):
    code = "SMN.0228"
    status = 403
    default_message = "No permission to call this API."


class AuthFailed(SmsgateError):
    """AK/SK signature failures answer in the API gateway's shape (see ``api.errors``)."""

    code = "APIGW.0301"
    status = 401
    default_message = "Incorrect IAM authentication information."


class RouteNotFound(SmsgateError):
    code = "APIGW.0101"
    status = 404
    default_message = "The API does not exist or has not been published in the environment."


class MethodNotAllowed(RouteNotFound):
    status = 405
    default_message = "The method is not allowed for this API."


class ProjectNotFound(SmsgateError):
    """A project id nobody knows: to a client, indistinguishable from one it may not see."""

    code = "SMN.0001"
    status = 403
    default_message = "No permission for this project."


class ServiceUnavailable(SmsgateError):
    code = "SMN.0018"
    status = 503
    default_message = "The service is temporarily unavailable; retry later."


class IdempotencyKeyReused(SmsgateError):
    """The X-Idempotency-Key answered another request within the day (an extension of SMN's
    API): replaying that answer would report rows as sent that never were."""

    code = "SMN.0024"
    status = 409
    default_message = ("Header: X-Idempotency-Key was used for a different request within the"
                       " last day; send this request with a new key.")


class RateLimited(SmsgateError):
    """The project sends faster than its configured rate (SPEC: 429 rate limited; the code is
    the one Huawei's API gateway answers a throttled request with)."""

    code = "APIGW.0308"
    status = 429
    default_message = "The request is throttled: the project's sending rate is exceeded; retry later."


# --- per-item (and per-resource) errors -------------------------------------------------------


class MessageInvalid(SmsgateError):
    code = "SMN.0009"
    status = 403
    default_message = "Parameter: Message is invalid."


class EndpointInvalid(SmsgateError):
    code = "SMN.0012"
    status = 400
    default_message = "Parameter: Endpoint is invalid."


class FrequencyCapExceeded(SmsgateError):
    code = "SMN.0057"
    status = 403
    default_message = "The number of messages sent to this number today exceeds the limit."


class SignIdInvalid(SmsgateError):
    code = "SMN.0080"
    status = 400
    default_message = "Parameter: sign_id is invalid."


class SignNameInvalid(SmsgateError):
    code = "SMN.0081"
    status = 400
    default_message = (
        "Parameter: sign_name is invalid (2 to 8 characters: Chinese, letters or digits)."
    )


class SignNotFound(SmsgateError):
    code = "SMN.0084"
    status = 404
    default_message = "The signature does not exist."


class SignQuotaReached(SmsgateError):
    code = "SMN.0086"
    status = 403
    default_message = "The number of signatures has reached the limit."


class SignNotApproved(SmsgateError):
    code = "SMN.0087"
    status = 400
    default_message = "The signature has not been approved."


class MessageIdInvalid(SmsgateError):
    code = "SMN.0102"
    status = 400
    default_message = "Parameter: message_id is invalid."


class MessageNotFound(MessageIdInvalid):
    status = 404
    default_message = "The message does not exist."


class StartTimeInvalid(SmsgateError):
    code = "SMN.0103"
    status = 400
    default_message = "Parameter: start_time is invalid."


class EndTimeInvalid(SmsgateError):
    code = "SMN.0104"
    status = 400
    default_message = "Parameter: end_time is invalid."


class TimeRangeTooLong(SmsgateError):
    code = "SMN.0113"
    status = 400
    default_message = "The time range must be within 3 months."


class TimeRangeReversed(SmsgateError):
    code = "SMN.0114"
    status = 400
    default_message = "end_time must be after start_time."


class EventTypeInvalid(SmsgateError):
    code = "SMN.0100"
    status = 400
    default_message = "Parameter: event_type is invalid."


class TopicUrnInvalid(SmsgateError):
    code = "SMN.0005"
    status = 400
    default_message = "Parameter: TopicUrn is invalid."


class CallbackBatchInvalid(BadRequest):
    """**decision**: batched callback delivery is an extension, which SMN has no code for; the
    generic parameter code, with a message naming the field."""

    default_message = ("Parameter: batch is invalid: max_events must be a whole number from 1 to 1000 and"
                       " max_wait_ms one from 0 to 60000.")


class CallbackTargetRefused(TopicUrnInvalid):
    """A callback URL whose host is (or resolves to) an address callbacks may not go to.

    ``message`` is what a client is told; ``detail`` (the address and why) is for the
    operator's log and the outbox's ``last_error``."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class EndpointDuplicate(SmsgateError):
    code = "SMN.0190"
    status = 201
    default_message = "This endpoint already exists."


class SignTypeMismatch(SmsgateError):
    code = "SMN.0193"
    status = 400
    default_message = "The signature type does not match: a promotional signature is required."


class SignDeleted(SmsgateError):
    code = "SMN.0194"
    status = 400
    default_message = "The signature has been deleted."


class UnsubscribeMissing(SmsgateError):
    code = "SMN.0204"
    status = 400
    default_message = (
        "A promotional SMS must end with an unsubscribe instruction, such as 拒收请回复R."
    )


class SensitiveWord(SmsgateError):
    code = "SMN.0227"
    status = 400
    default_message = "The message contains sensitive words."

    def __init__(self, word: str, message: str | None = None) -> None:
        super().__init__(message)
        self.word = word


class ExtendSrcIdInvalid(SmsgateError):
    code = "SMN.0229"
    status = 400
    default_message = "Parameter: extend_src_id is invalid (digits only, at most 8)."


class RecipientOptedOut(SmsgateError):
    """**decision**: SPEC names no code for an opted-out recipient."""

    code = "SMN.0230"
    status = 403
    default_message = "The recipient has unsubscribed from messages of this signature."


class ExtendCodeInvalid(SmsgateError):
    """**decision**: SPEC names no code for a bad extend_code."""

    code = "SMN.0231"
    status = 400
    default_message = "Parameter: extend_code is invalid (at most 32 bytes)."


class TemplateNotFound(SmsgateError):
    code = "SMN.0162"
    status = 404
    default_message = "The template does not exist."


class TemplateQuotaReached(SmsgateError):
    """**decision**: SPEC names no code; SMN's own error table answers 400 SMN.0152 when a
    project has its 100 SMS templates."""

    code = "SMN.0152"
    status = 400
    default_message = "The number of SMS templates has reached the maximum allowed (100)."


class TemplateTypeInvalid(SmsgateError):
    code = "SMN.0155"
    status = 400
    default_message = "Parameter: sms_template_type is invalid (0 notification, 1 promotional)."


class TemplateNameInvalid(SmsgateError):
    code = "SMN.0156"
    status = 400
    default_message = "Parameter: sms_template_name is invalid (1 to 30 characters)."


class TemplateContentInvalid(SmsgateError):
    code = "SMN.0157"
    status = 400
    default_message = "Parameter: sms_template_content is invalid."


class TemplateIdInvalid(SmsgateError):
    code = "SMN.0161"
    status = 400
    default_message = "Parameter: sms_template_id is invalid (32 hex digits)."


class TemplateNotApproved(SmsgateError):
    code = "SMN.0163"
    status = 400
    default_message = "The template has not been approved."


class RemarkInvalid(SmsgateError):
    """**decision**: SPEC names no code; SMN's own error table answers SMN.0082 for a remark
    over 1500 bytes."""

    code = "SMN.0082"
    status = 400
    default_message = "Parameter: remark is invalid (at most 1500 bytes)."

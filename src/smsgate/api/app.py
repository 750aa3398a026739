"""The public API's route table, each route with what ``/openapi.json`` says of it
(``smsgate.app`` composes the routes with the console and the worker)."""

from __future__ import annotations

from functools import cache

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smsgate.api import reports, resources, schemas, templates
from smsgate.api.openapi import (
    AKSK_ONLY,
    DRY_RUN,
    EVENT_TYPE_QUERY,
    MESSAGE_ID,
    REPORT_QUERY,
    TEMPLATE_QUERY,
    Doc,
    DocumentedRoute,
    document,
    health_answers,
    metrics_answers,
    openapi_answers,
    promotion_answers,
)
from smsgate.api.promotion import send_promotion
from smsgate.api.responses import JsonResponse
from smsgate.metrics import CONTENT_TYPE


@cache
def openapi_document() -> dict:
    return document(routes())


async def openapi(request: Request) -> JsonResponse:
    return JsonResponse(openapi_document())


async def metrics(request: Request) -> Response:
    """This process's metrics; under ``smsgate serve``, the delivery process's appended (its
    channels, callbacks, delivery latency), with ``smsgate_delivery_up`` saying whether it
    answered."""
    state = request.app.state.smsgate
    body = state.metrics.render()
    url = state.settings.deliver_metrics_url
    if url:
        try:
            timeout = aiohttp.ClientTimeout(total=DELIVERY_SCRAPE_S)
            async with aiohttp.ClientSession(timeout=timeout) as client, client.get(url) as answer:
                answer.raise_for_status()
                body += await answer.read() + DELIVERY_UP % 1
        except (aiohttp.ClientError, TimeoutError):
            body += DELIVERY_UP % 0
    return Response(body, media_type=CONTENT_TYPE)


DELIVERY_SCRAPE_S = 2.0
DELIVERY_UP = (b"# HELP smsgate_delivery_up Whether the delivery process answered this scrape\n"
               b"# TYPE smsgate_delivery_up gauge\nsmsgate_delivery_up %d\n")


def routes() -> list[Route]:
    v2 = "/v2/{project_id}/notifications"
    return [
        DocumentedRoute(f"{v2}/sms/promotion", send_promotion, "POST", Doc(
            "PromotionSmsBatchPublishWithDiffMessage",
            "Send promotional SMS, each recipient with its own text (1-999).",
            body=schemas.PromotionBatch, alternatives=(schemas.TemplateBatch,), query=(DRY_RUN,),
            responses=promotion_answers, structs=(schemas.PromotionResponse, schemas.DryRunResponse))),
        DocumentedRoute(f"{v2}/sms_template", templates.create_template, "POST", Doc(
            "CreateSmsTemplate", "Create an SMS template (pending review; at most 100 a project).",
            ok=schemas.TemplateCreated, ok_status="201", body=schemas.NewTemplate)),
        DocumentedRoute(f"{v2}/sms_template", templates.list_templates, "GET", Doc(
            "ListSmsTemplates", "List the project's SMS templates, oldest first.",
            ok=schemas.TemplateListResponse, query=TEMPLATE_QUERY)),
        DocumentedRoute(f"{v2}/sms_template/{{sms_template_id}}", templates.show_template, "GET", Doc(
            "ShowSmsTemplate", "One SMS template.", ok=schemas.TemplateResponse, errors=("404",),
            path={"sms_template_id": MESSAGE_ID})),
        DocumentedRoute(f"{v2}/sms_template/{{sms_template_id}}", templates.delete_template, "DELETE", Doc(
            "DeleteSmsTemplate", "Delete an SMS template (messages accepted with it still go out).",
            ok=schemas.RequestIdBody, errors=("404",), path={"sms_template_id": MESSAGE_ID})),
        DocumentedRoute(f"{v2}/sms_sign", resources.list_signs, "GET", Doc(
            "ListSmsSigns", "List the project's SMS signatures.", ok=schemas.SignListResponse)),
        DocumentedRoute(f"{v2}/sms_sign/{{sign_id}}", resources.delete_sign, "DELETE", Doc(
            "DeleteSmsSign", "Delete an SMS signature.", ok=schemas.RequestIdBody, errors=("404",))),
        DocumentedRoute(f"{v2}/sms/report", reports.report, "GET", Doc(
            "ListSmsReport", "Delivery status of sent messages, newest first (times in epoch ms).",
            ok=schemas.ReportResponse, query=REPORT_QUERY)),
        DocumentedRoute(f"{v2}/sms/message/{{message_id}}", reports.message, "GET", Doc(
            "ShowSmsMessage", "One message's delivery status.", ok=schemas.MessageResponse,
            errors=("404",), path={"message_id": MESSAGE_ID})),
        DocumentedRoute(f"{v2}/sms/callback", reports.list_callbacks, "GET", Doc(
            "ListSmsCallback", "The project's callback subscriptions.", ok=schemas.CallbackList,
            query=EVENT_TYPE_QUERY)),
        DocumentedRoute(f"{v2}/sms/callback", reports.put_callbacks, "PUT", Doc(
            "UpdateSmsCallback", "Subscribe event types to an http(s) URL (or an SMN topic URN).",
            ok=schemas.RequestIdBody, body=schemas.CallbackUpdate)),
        DocumentedRoute("/v3/auth/tokens", resources.create_token, "POST", Doc(
            "CreateToken", "Issue a 24 h project token (X-Subject-Token) to an AK/SK-signed call.",
            ok=schemas.TokenResponse, ok_status="201", security=AKSK_ONLY)),
        DocumentedRoute("/openapi.json", openapi, "GET", Doc(
            "OpenApi", "This document.", security=None, responses=openapi_answers)),
        DocumentedRoute("/metrics", metrics, "GET", Doc(
            "Metrics", "Prometheus metrics: requests, messages, queue depth, SMPP, callbacks.",
            security=None, responses=metrics_answers)),
        DocumentedRoute("/healthz", resources.health, "GET", Doc(
            "Health", "Whether the service and its store are up.", security=None,
            responses=health_answers, structs=(schemas.Health,))),
    ]

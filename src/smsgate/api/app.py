"""The public API's routes (``smsgate.app`` composes them with the console and the worker)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smsgate.api import reports, resources
from smsgate.api.openapi import document
from smsgate.api.promotion import send_promotion
from smsgate.api.responses import JsonResponse
from smsgate.metrics import CONTENT_TYPE


async def openapi(request: Request) -> JsonResponse:
    return JsonResponse(document())


async def metrics(request: Request) -> Response:
    return Response(request.app.state.smsgate.metrics.render(), media_type=CONTENT_TYPE)


def routes() -> list[Route]:
    v2 = "/v2/{project_id}/notifications"
    return [
        Route(f"{v2}/sms/promotion", send_promotion, methods=["POST"]),
        Route(f"{v2}/sms_sign", resources.list_signs, methods=["GET"]),
        Route(f"{v2}/sms_sign/{{sign_id}}", resources.delete_sign, methods=["DELETE"]),
        Route(f"{v2}/sms/report", reports.report, methods=["GET"]),
        Route(f"{v2}/sms/message/{{message_id}}", reports.message, methods=["GET"]),
        Route(f"{v2}/sms/callback", reports.list_callbacks, methods=["GET"]),
        Route(f"{v2}/sms/callback", reports.put_callbacks, methods=["PUT"]),
        Route("/v3/auth/tokens", resources.create_token, methods=["POST"]),
        Route("/healthz", resources.health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]

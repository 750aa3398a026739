"""``/console``: the single-page app (``pages``) and its JSON API under ``/console/api``
(``session``, ``projects``, ``signs``, ``templates``, ``lexicon``, ``optouts``, ``messages``, ``dashboard``)."""

from __future__ import annotations

from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from smsgate.console.dashboard import dashboard
from smsgate.console.lexicon import add_words, remove_words, test_text
from smsgate.console.messages import message_history, search_messages, test_batch
from smsgate.console.optouts import add_optouts, list_optouts, remove_optout
from smsgate.console.pages import SecurityHeaders, index
from smsgate.console.projects import (
    create_key,
    create_project,
    edit_project,
    get_callbacks,
    list_projects,
    put_callbacks,
    revoke_key,
    show_project,
)
from smsgate.console.session import login, logout, meta, session
from smsgate.console.signs import approve_sign, create_sign, reject_sign
from smsgate.console.templates import approve_template, list_templates, reject_template


def api_routes() -> list[Route]:
    p = "/api/projects/{project_id}"
    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/session", session, methods=["GET"]),
        Route("/api/meta", meta, methods=["GET"]),
        Route("/api/projects", list_projects, methods=["GET"]),
        Route("/api/projects", create_project, methods=["POST"]),
        Route(p, show_project, methods=["GET"]),
        Route(p, edit_project, methods=["PUT"]),
        Route(f"{p}/keys", create_key, methods=["POST"]),
        Route(f"{p}/keys/{{access_key}}/revoke", revoke_key, methods=["POST"]),
        Route(f"{p}/signs", create_sign, methods=["POST"]),
        Route(f"{p}/signs/{{sign_id}}/approve", approve_sign, methods=["POST"]),
        Route(f"{p}/signs/{{sign_id}}/reject", reject_sign, methods=["POST"]),
        Route("/api/templates", list_templates, methods=["GET"]),
        Route(f"{p}/templates/{{template_id}}/approve", approve_template, methods=["POST"]),
        Route(f"{p}/templates/{{template_id}}/reject", reject_template, methods=["POST"]),
        Route(f"{p}/words", add_words, methods=["POST"]),
        Route(f"{p}/words/remove", remove_words, methods=["POST"]),
        Route(f"{p}/words/test", test_text, methods=["POST"]),
        Route(f"{p}/optouts", list_optouts, methods=["GET"]),
        Route(f"{p}/optouts", add_optouts, methods=["POST"]),
        Route(f"{p}/optouts/remove", remove_optout, methods=["POST"]),
        Route(f"{p}/callbacks", get_callbacks, methods=["GET"]),
        Route(f"{p}/callbacks", put_callbacks, methods=["PUT"]),
        Route(f"{p}/test-batch", test_batch, methods=["POST"]),
        Route("/api/messages", search_messages, methods=["GET"]),
        Route("/api/messages/{message_id}", message_history, methods=["GET"]),
        Route("/api/dashboard", dashboard, methods=["GET"]),
    ]


def mount() -> Mount:
    """``/console``: the app shell, its static files and the JSON API."""
    router = Router(routes=[
        Route("/", index, methods=["GET"]),
        Mount("/static", app=StaticFiles(packages=[("smsgate.console", "static")])),
        *api_routes(),
    ])
    return Mount("/console", app=SecurityHeaders(router))

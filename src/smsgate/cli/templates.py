"""``smsgate admin template …``: the operator's review of SMS templates (the customer creates
and deletes them through the API), as ``admin sign`` reviews signatures."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from smsgate.cli.options import CliError, DatabaseUrl, DataDir, Json, admin_store, print_result
from smsgate.domain import admin as rules
from smsgate.domain.records import TemplateStatus
from smsgate.domain.templates import MAX_TEMPLATES_PER_PROJECT
from smsgate.store import templates as stored

template_app = typer.Typer(help="SMS templates (the provider reviews them).")

_SHOWN = 40  # characters of the content a line shows


@template_app.command("list")
def template_list(
    project_id: str,
    status: Annotated[Optional[str], typer.Option(
        help="Only pending, approved or rejected ones.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """List a project's templates, oldest first, with their content."""
    store = admin_store(data_dir, database_url)
    store.require_project(project_id)
    wanted = _status(status) if status else None
    _, found = stored.page(store.db, project_id, status=wanted, limit=MAX_TEMPLATES_PER_PROJECT)
    rows = [{"sms_template_id": t.id, "name": t.name, "type": t.type.name.lower(),
             "status": t.status.name.lower(), "reply": t.reply, "content": t.content,
             "remark": t.remark} for t in found]
    human = "\n".join(
        f"{r['sms_template_id']}  {r['name']}  {r['type']}  {r['status']}  "
        f"{r['content'][:_SHOWN]}{'…' if len(r['content']) > _SHOWN else ''}" for r in rows)
    print_result(as_json, {"templates": rows}, human or "(no templates)")


@template_app.command("approve")
def template_approve(
    project_id: str, template_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Approve a template: the promotion call may send it from now on."""
    store = admin_store(data_dir, database_url)
    stored.set_status(store.db, project_id, template_id, TemplateStatus.APPROVED)
    typer.echo(f"template {template_id} approved")


@template_app.command("reject")
def template_reject(
    project_id: str,
    template_id: str,
    reason: Annotated[str, typer.Option(help="Told to the customer in `reply`.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Reject a template, with a reason."""
    reply = rules.rejection_note(reason)
    store = admin_store(data_dir, database_url)
    stored.set_status(store.db, project_id, template_id, TemplateStatus.REJECTED, reply)
    typer.echo(f"template {template_id} rejected")


def _status(name: str) -> TemplateStatus:
    try:
        return TemplateStatus[name.upper()]
    except KeyError:
        raise CliError("--status is pending, approved or rejected") from None

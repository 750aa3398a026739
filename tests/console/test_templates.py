"""The console's templates page: every project's templates in one review queue, approved or
rejected with a reason, each checked in the store; on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from smsgate.domain.records import TemplateStatus, TemplateType
from smsgate.store import templates as stored
from tests.conftest import UNSUB, World
from tests.console.test_admin import post, refused


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def test_templates_are_queued_approved_and_rejected_with_a_reason(console: TestClient, world: World) -> None:
    mine = stored.create(world.store.db, world.project_id, "会员日", TemplateType.PROMOTIONAL,
                         f"会员日五折{UNSUB}", "双十一")
    other_id, _ = world.new_project("rival")
    theirs = stored.create(world.store.db, other_id, "通知", TemplateType.NOTIFICATION, "订单已发货", "")

    queue = console.get("/console/api/templates", params={"status": "pending"}).json()
    assert queue["count"] == 2
    # oldest first; two created in the same millisecond come in either order
    assert sorted((t["id"], t["project_name"], t["status"]) for t in queue["templates"]) == sorted([
        (mine.id, "acme", "pending"), (theirs.id, "rival", "pending")])
    assert [t["created_at"] for t in queue["templates"]] == sorted(t["created_at"] for t in queue["templates"])
    (shown,) = [t for t in queue["templates"] if t["id"] == mine.id]
    assert shown["content"] == f"会员日五折{UNSUB}" and shown["remark"] == "双十一"
    only = console.get("/console/api/templates", params={"project_id": other_id}).json()
    assert [t["id"] for t in only["templates"]] == [theirs.id]

    approved = post(console, f"projects/{world.project_id}/templates/{mine.id}/approve")
    assert approved["status"] == "approved"
    assert stored.get(world.store.db, world.project_id, mine.id).status == TemplateStatus.APPROVED
    rejected = post(console, f"projects/{other_id}/templates/{theirs.id}/reject", {"reason": "内容不符合规范"})
    template = stored.get(world.store.db, other_id, theirs.id)
    assert (template.status, template.reply) == (TemplateStatus.REJECTED, "内容不符合规范")
    assert rejected["reply"] == template.reply
    left = console.get("/console/api/templates", params={"status": "pending"}).json()
    assert left["count"] == 0

    # a template of another project is not found through this one
    refused(console, f"projects/{world.project_id}/templates/{theirs.id}/approve", None, 404, "SMN.0162")
    refused(console, f"projects/{world.project_id}/templates/nope/approve", None, 400, "SMN.0161")
    refused(console, f"projects/{world.project_id}/templates/{mine.id}/reject", {"reason": "x" * 201}, 400, "SMN.0024")
    r = console.get("/console/api/templates", params={"status": "deleted"})
    assert (r.status_code, r.json()["code"]) == (400, "SMN.0024")


def test_the_review_needs_a_session_and_the_console_header(anon: TestClient, world: World) -> None:
    template = stored.create(world.store.db, world.project_id, "会员日", TemplateType.PROMOTIONAL,
                             f"会员日五折{UNSUB}", "")
    assert anon.get("/console/api/templates").status_code == 401
    r = anon.post(f"/console/api/projects/{world.project_id}/templates/{template.id}/approve")
    assert r.status_code == 401
    assert stored.get(world.store.db, world.project_id, template.id).status == TemplateStatus.PENDING


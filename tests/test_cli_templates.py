"""``smsgate admin template list|approve|reject`` as an operator runs it: the review the
template call then obeys."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgate.config import Settings
from smsgate.domain.records import TemplateStatus, TemplateType
from smsgate.store import open_store
from smsgate.store import templates as stored
from tests.conftest import UNSUB
from tests.live import admin_json, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes


def test_templates_are_listed_approved_and_rejected_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pid = admin_json("project", "create", "acme", "--enterprise", "--grant", "promotion",
                     data_dir=data)["project_id"]
    store = open_store(Settings(data_dir=data))
    first = stored.create(store.db, pid, "会员日", TemplateType.PROMOTIONAL, f"会员日五折{UNSUB}", "")
    second = stored.create(store.db, pid, "通知", TemplateType.NOTIFICATION, "您的订单已发货", "")
    listed = admin_json("template", "list", pid, data_dir=data)["templates"]
    assert [(t["sms_template_id"], t["status"], t["type"]) for t in listed] == [
        (first.id, "pending", "promotional"), (second.id, "pending", "notification")]
    assert listed[0]["content"] == f"会员日五折{UNSUB}"
    human = smsgate("admin", "template", "list", pid, data_dir=data).stdout
    assert first.id in human and "会员日五折" in human

    assert "approved" in smsgate("admin", "template", "approve", pid, first.id, data_dir=data).stdout
    smsgate("admin", "template", "reject", pid, second.id, "--reason", "内容不符合规范", data_dir=data)
    assert stored.get(store.db, pid, first.id).status == TemplateStatus.APPROVED
    rejected = stored.get(store.db, pid, second.id)
    assert (rejected.status, rejected.reply) == (TemplateStatus.REJECTED, "内容不符合规范")
    only = admin_json("template", "list", pid, "--status", "approved", data_dir=data)["templates"]
    assert [t["sms_template_id"] for t in only] == [first.id]
    store.close()


def test_review_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pid = admin_json("project", "create", "acme", data_dir=data)["project_id"]
    for args, said in [(("approve", pid, "a" * 32), "SMN.0162"),
                       (("reject", "no-such-project", "a" * 32), "SMN.0162"),
                       (("list", "no-such-project"), "SMN.0001"),
                       (("list", pid, "--status", "deleted"), "--status"),
                       (("reject", pid, "a" * 32, "--reason", "x" * 201), "SMN.0024")]:
        result = smsgate("admin", "template", *args, data_dir=data, check=False)
        assert result.returncode == 1, args
        assert result.stderr.strip().count("\n") == 0 and said in result.stderr, (args, result.stderr)

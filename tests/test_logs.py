"""Structured logs: JSON lines, named events, the request id, and no personal data by default."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from smsgate.logs import JsonFormatter, RequestIdFilter, mask_number
from tests.conftest import World, item


def record(**extra: object) -> logging.LogRecord:
    r = logging.LogRecord("smsgate.test", logging.INFO, __file__, 1, "reply_received", None, None)
    for key, value in extra.items():
        setattr(r, key, value)
    return r


def test_numbers_are_masked_and_texts_left_out() -> None:
    line = json.loads(JsonFormatter().format(record(e164="+8613800138000", text="退订", project_id="p1")))
    assert line["event"] == "reply_received" and line["level"] == "info"
    assert line["e164"] == "+86138****8000" and "13800138000" not in json.dumps(line)
    assert line["text"] == "<2 chars>" and line["project_id"] == "p1"


def test_personal_data_only_when_enabled() -> None:
    line = json.loads(JsonFormatter(pii=True).format(record(e164="+8613800138000", text="退订")))
    assert (line["e164"], line["text"]) == ("+8613800138000", "退订")


@pytest.mark.parametrize(("number", "masked"), [("13800138000", "138****8000"), ("+447911123456", "+4479****3456")])
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_a_request_logs_its_batch_with_the_request_id(client: TestClient, world: World,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="smsgate.api"):
        r = client.post(world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id), item("1")]})
    [batch] = [rec for rec in caplog.records if rec.getMessage() == "batch_accepted"]
    assert batch.request_id == r.headers["X-Request-Id"]
    assert (batch.items, batch.accepted, batch.refused) == (2, 1, {"SMN.0012": 1})
    line = json.loads(JsonFormatter().format(batch))
    assert line["request_id"] == r.headers["X-Request-Id"] and "13800138000" not in json.dumps(line)


def test_the_access_log_is_an_event_with_the_numbers_in_its_url_masked() -> None:
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/v2/p/notifications/sms/report?mobile=13800138000&limit=10",
                                "1.1", 200), None)
    line = json.loads(JsonFormatter().format(access))
    assert (line["event"], line["method"], line["status"]) == ("http_request", "GET", 200)
    assert line["path"] == "/v2/p/notifications/sms/report?mobile=138****8000&limit=10"
    assert "13800138000" not in json.dumps(line)
    assert "13800138000" in JsonFormatter(pii=True).format(access)

"""The console in a real browser against a real ``smsgate serve`` (delivering to its built-in
SMSC simulator): log in, approve a signature, send a test batch, watch its receipts arrive on
the dashboard, read a message's history; review templates on their page.

Headless Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package;
Playwright never downloads a browser of its own here.  Without Chromium the test is skipped,
unless ``SMSGATE_REQUIRE_SERVICES=1`` (as in CI), where it fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsgate.config import Settings
from smsgate.domain.records import TemplateType
from smsgate.store import open_store
from smsgate.store import templates as stored
from tests.conftest import UNSUB
from tests.live import LiveServer, live_server, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser test password"
STEP_MS = 10_000  # the longest any one step may take (a bound, not an expectation)


def _require_chromium() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return
    reason = "the browser test needs " + " and ".join(missing)
    if os.environ.get("SMSGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and SMSGATE_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    _require_chromium()
    live = live_server(tmp_path / "data", env={"SMSGATE_SEND_WINDOW": "00:00-24:00"})
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def page(server: LiveServer) -> Iterator:
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            yield page
        finally:
            browser.close()


def delivered(page) -> int:
    text = page.locator("#tile-delivered .value").inner_text()
    return int(text.replace(",", ""))


def test_an_operator_approves_a_signature_sends_a_batch_and_watches_it_delivered(server: LiveServer, page) -> None:
    data = server.data_dir
    created = smsgate("admin", "operator", "create", "ops", "--password", PASSWORD, data_dir=data)
    assert created.returncode == 0, created.stderr
    pending = json.loads(smsgate("admin", "sign", "create", server.project_id, "新签名", "--json",
                                 data_dir=data).stdout)["sign_id"]

    # log in: the page starts on the login form, then shows the dashboard
    page.goto(f"{server.url}/console/")
    page.fill("#login-name", "ops")
    page.fill("#login-password", "not the password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:has-text('Wrong operator name or password')")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:has-text('ops')")
    page.wait_for_function("document.querySelector('#tile-delivered .value')?.textContent.match(/^[0-9,]+$/)")
    before = delivered(page)

    # approve the pending signature on the project's page
    page.click("header nav a[data-nav=projects]")
    page.click("#projects a:has-text('acme')")
    row = page.locator("#signs tr[data-sign='新签名']")
    row.locator(".status:has-text('pending')").wait_for()
    row.locator("button[data-action=approve]").click()
    row.locator(".status:has-text('approved')").wait_for()
    status = smsgate("admin", "sign", "list", server.project_id, "--json", data_dir=data).stdout
    assert {s["sign_id"]: s["status"] for s in json.loads(status)["signs"]}[pending] == "approved"

    # send a test batch with it
    page.click("header nav a[data-nav=send]")
    page.select_option("#send-project", server.project_id)
    page.wait_for_selector(f"#send-sign option[value='{pending}']", state="attached")
    page.select_option("#send-sign", pending)
    numbers = ["13800138000", "13000130000", "13300133000"]
    page.fill("#send-numbers", "\n".join(numbers))
    page.fill("#send-text", f"新品上市，全场八折{UNSUB}")
    page.click("#send-form button[type=submit]")
    links = page.locator("#send-result a.mono")
    links.nth(len(numbers) - 1).wait_for()
    message_ids = links.all_inner_texts()
    assert len(message_ids) == len(numbers)

    # the dashboard (polling every 2 s) shows the receipts arriving
    page.click("header nav a[data-nav=dashboard]")
    page.wait_for_function(
        """([before, n]) => {
            const value = (id) => Number(document.querySelector(`#${id} .value`)?.textContent.replace(/,/g, ''));
            return value('tile-delivered') > before && value('tile-delivered') + value('tile-failed') >= before + n;
        }""",
        arg=[before, len(numbers)], timeout=20_000,
    )
    assert delivered(page) > before
    assert page.locator("#chart-minutes rect[data-state=DELIVERED]").count() >= 1
    assert page.locator("#chart-carriers svg text:has-text('cn-mobile')").count() == 1

    # a message's history: found by its number, with its part, carrier id and receipt
    page.click("header nav a[data-nav=messages]")
    page.fill("#message-search input[name=number]", numbers[0])
    page.click("#message-search button[type=submit]")
    page.locator(f"#messages a:has-text('{message_ids[0]}')").click()
    page.wait_for_selector("#history tr[data-kind=accepted]")
    assert page.locator("#history tr[data-kind='part submitted']").count() == 1
    assert page.locator("#history tr[data-kind=receipt]").count() == 1
    carrier_id = page.locator("#parts tbody tr td.mono").first.inner_text()
    assert carrier_id.strip()
    assert "+8613800138000" in page.locator("#message-facts").inner_text()

    # and out again
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_operator_sets_batched_callback_delivery(server: LiveServer, page) -> None:
    data = server.data_dir
    created = smsgate("admin", "operator", "create", "ops", "--password", PASSWORD, data_dir=data)
    assert created.returncode == 0, created.stderr
    page.goto(f"{server.url}/console/")
    page.fill("#login-name", "ops")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:has-text('ops')")
    page.click("header nav a[data-nav=projects]")
    page.click("#projects a:has-text('acme')")

    # an SMN topic is kept, not posted to: no address is checked or reached
    topic = "urn:smn:cn-north-4:abc:topic"
    page.fill("#callbacks input[name=sms_success_event]", topic)
    page.fill("#callbacks input[name=sms_success_event-events]", "50")
    page.fill("#callbacks input[name=sms_success_event-wait]", "300")
    page.fill("#callbacks input[name=sms_fail_event]", topic)
    page.click("#callbacks button[type=submit]")
    page.wait_for_selector("text=Callbacks saved")
    page.reload()
    page.locator("#callbacks input[name=sms_success_event-events]").wait_for()
    assert page.input_value("#callbacks input[name=sms_success_event-events]") == "50"
    assert page.input_value("#callbacks input[name=sms_success_event-wait]") == "300"
    assert page.input_value("#callbacks input[name=sms_fail_event-events]") == ""  # one event per POST
    assert page.errors == []


def test_an_operator_reviews_templates_on_the_templates_page(server: LiveServer, page) -> None:
    data = server.data_dir
    created = smsgate("admin", "operator", "create", "ops", "--password", PASSWORD, data_dir=data)
    assert created.returncode == 0, created.stderr
    store = open_store(Settings(data_dir=data))
    good = stored.create(store.db, server.project_id, "会员日", TemplateType.PROMOTIONAL, f"会员日五折{UNSUB}", "")
    bad = stored.create(store.db, server.project_id, "促销", TemplateType.PROMOTIONAL, f"全场清仓{UNSUB}", "")
    page.goto(f"{server.url}/console/")
    page.fill("#login-name", "ops")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:has-text('ops')")

    page.click("header nav a[data-nav=templates]")  # the pending ones first
    good_row = page.locator(f"#templates tr[data-template='{good.id}']")
    good_row.locator(".status:has-text('pending')").wait_for()
    assert "会员日五折" in good_row.inner_text()
    good_row.locator("button[data-action=approve]").click()
    page.wait_for_selector("text=Template 会员日 approved")
    good_row.wait_for(state="detached")  # no longer pending
    bad_row = page.locator(f"#templates tr[data-template='{bad.id}']")
    bad_row.locator("summary").click()
    bad_row.locator("input[name=reason]").fill("夸大宣传")
    bad_row.locator("button[data-action=reject]").click()
    page.wait_for_selector("#templates td:has-text('No templates.')")

    page.select_option("#template-filter select[name=status]", "")
    page.click("#template-filter button[type=submit]")
    page.locator(f"#templates tr[data-template='{bad.id}'] .status:has-text('夸大宣传')").wait_for()
    listed = json.loads(smsgate("admin", "template", "list", server.project_id, "--json", data_dir=data).stdout)
    assert {t["sms_template_id"]: (t["status"], t["reply"]) for t in listed["templates"]} == {
        good.id: ("approved", ""), bad.id: ("rejected", "夸大宣传")}
    store.close()
    assert page.errors == []  # type: ignore[attr-defined]

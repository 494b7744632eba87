"""The console in a real browser (Debian's chromium through Playwright), on traffic the test sends."""

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from routing.access.keys import api_key_create
from routing.models import PreferenceProfile
from tests.conftest import bearer_client
from tests.routing.console.test_console_is_staff_only import console_routes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "reports" / "screenshots"


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Any:
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    expect.set_options(timeout=60_000)  # a loaded 2-core machine
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        browser.close()


def sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/?next=/console/overview/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}-123")
    page.click("button[type=submit]")


def send_traffic(raw_key: str) -> None:
    api = bearer_client(raw_key)
    for question in ["Say hello to the team.", "Summarise our release notes in one line.", "What is 2 + 2?"]:
        response = api.post("/v1/chat/completions", {"model": "optiroute/auto",
                                                     "messages": [{"role": "user", "content": question}]},
                            format="json")
        assert response.status_code == 200, response.content


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_engineer_runs_optiroute_from_the_console(live_server: Any, fake_provider: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    send_traffic(api_key_create(cohort_name=None, label="traffic")[1])
    sign_in(page, live_server.url, "grace")

    page.wait_for_url("**/console/overview/")
    expect(page.locator("svg.chart rect").first).to_be_visible()
    expect(page.locator(".kpi").first).to_contain_text("3")
    page.screenshot(path=str(SCREENSHOTS / "console-overview.png"), full_page=True)

    page.click("text=Decisions")
    page.select_option("select[name=mode]", "chat")
    page.click("button:text('Filter')")
    expect(page.locator("#log")).to_contain_text("3 decisions")
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.path().read_text().count("\n") == 4  # a header and three rows
    page.locator("#log tbody a").first.click()
    expect(page.locator("h1")).to_contain_text("Routed to fake-ok")
    page.screenshot(path=str(SCREENSHOTS / "console-decision.png"), full_page=True)

    page.click("text=Profiles")
    page.click("text=balanced")
    page.fill("input[name=cost]", "0.9")
    expect(page.locator("#id_cost-value")).to_have_text("0.90")
    page.get_by_label("Check a cheap answer first (cascade)").check()
    page.screenshot(path=str(SCREENSHOTS / "console-profile.png"), full_page=True)
    page.click("text=Save profile")
    expect(page.locator(".messages")).to_contain_text("within 5 s")
    balanced = PreferenceProfile.objects.get(name="balanced")
    assert balanced.weights["cost"] == 0.9 and balanced.cascade is True

    page.click("text=Cohorts")
    page.click("text=New cohort")
    page.fill("input[name=name]", "search")
    page.check("label:has-text('fake-ok') input[name=allowed_models]")
    page.fill("input[name=monthly_budget_usd]", "50")
    page.get_by_label("Check a cheap answer first (cascade)").check()
    page.click("text=Create cohort")
    expect(page.locator("h1")).to_contain_text("Cohort search")
    expect(page.get_by_label("Check a cheap answer first (cascade)")).to_be_checked()
    page.screenshot(path=str(SCREENSHOTS / "console-cohort.png"), full_page=True)
    page.fill("#key-label", "staging")
    page.click("text=Create API key")
    raw = page.locator("#new-key").inner_text().strip()
    assert bearer_client(raw).get("/v1/models").status_code == 200
    page.click("button:text('Revoke')")
    expect(page.locator(".messages")).to_contain_text("revoked")
    assert bearer_client(raw).get("/v1/models").status_code == 401

    page.click("text=Registry")
    page.click("text=Register a model")
    page.fill("input[name=name]", "fake-new")
    page.select_option("select[name=provider]", label="fakeai (openai, key from $FAKE_OPENAI_KEY)")
    page.fill("input[name=api_model_id]", "fake-ok")
    page.fill("input[name=input_price_per_mtok]", "0.2")
    page.fill("input[name=output_price_per_mtok]", "0.4")
    page.click("text=Register model")
    expect(page.locator("h1")).to_contain_text("fake-new")
    page.click("text=Send a test request")
    expect(page.locator("#test-call")).to_contain_text("Hello from the local provider.")
    expect(page.locator("#test-call")).to_contain_text("$0.0")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_who_is_not_staff_is_refused_everywhere(live_server: Any, browser_page: Any) -> None:
    page = browser_page
    get_user_model().objects.create_user("mallory", password="pw-mallory-123")
    sign_in(page, live_server.url, "mallory")
    for route, pattern in console_routes():
        if pattern.pattern.converters:  # type: ignore[attr-defined]
            continue  # the pages of one record: the staff-only test covers them with records
        response = page.goto(f"{live_server.url}/{route}")
        assert response.status == 403 or "/login/" in page.url, route


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_overview_reads_in_dark_mode(live_server: Any, fake_provider: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.emulate_media(color_scheme="dark")
    get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    send_traffic(api_key_create(cohort_name=None, label="traffic")[1])
    sign_in(page, live_server.url, "grace")
    expect(page.locator("svg.chart rect").first).to_be_visible()
    background = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    text = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
    assert background == "rgb(27, 32, 41)" and text == "rgb(228, 232, 239)"
    page.screenshot(path=str(SCREENSHOTS / "console-overview-dark.png"), full_page=True)

"""The chat page in a real browser (Debian's chromium through Playwright): sign in, ask, rate."""

import shutil

import pytest

from feedback.models import Feedback

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
def provider(fake_provider):
    return fake_provider


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_chats_sees_who_answered_and_rates_it(live_server, provider, non_staff, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The first routed request of a run trains the analyzer (seconds on a loaded 2-core machine).
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/")
        page.fill("input[name=username]", non_staff.user.get_username())
        page.fill("input[name=password]", non_staff.password)
        page.click("button[type=submit]")
        page.wait_for_url("**/chat/")
        page.fill("textarea[name=message]", "Say hello to the team.")
        page.click("text=Send")
        answer = page.locator(".msg.assistant")
        expect(answer).to_contain_text("Hello from the local provider.")
        expect(page.locator(".why summary")).to_contain_text("answered by fake-ok")
        expect(page.locator("textarea[name=message]")).to_have_value("")  # ready for the next message
        page.click("button[aria-label='bad answer']")
        expect(page.locator(".rated")).to_contain_text("noted")
        browser.close()
    assert Feedback.objects.get().rating == -1

"""The chat page in a real browser (Debian's chromium through Playwright): sign in, ask, watch the
answer stream in, rate it, find the conversation again; another person is refused it."""

import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from feedback.models import Feedback
from routing.models import Conversation

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "reports" / "screenshots"

# Records every text the streaming answer shows, until the finished turn replaces it.
WATCH_STREAM = """() => {
  window.seen = [];
  new MutationObserver(() => {
    const node = document.querySelector('.msg.streaming .answer-body');
    if (node && node.textContent && window.seen[window.seen.length - 1] !== node.textContent)
      window.seen.push(node.textContent);
  }).observe(document.getElementById('conversation'), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def provider(fake_provider):
    fake_provider.stream_pause_s = 0.3
    return fake_provider


def sign_in(page, url, name):
    page.goto(f"{url}/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", f"pw-{name}-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/chat/")


def shoot(browser, url, name, path, *, dark, phone, settings=False):
    """The page as a person sees it; with `settings`, a message typed, the preview and settings open."""
    from playwright.sync_api import expect

    context = browser.new_context(color_scheme="dark" if dark else "light",
                                  viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, url, name)
    page.goto(f"{url}{path}")
    if settings:
        page.get_by_label("Your message").fill("Write a limerick about routing.")
        page.get_by_text("Routing settings").click()
        expect(page.locator("#preview .candidate.first")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    file = f"chat-{'settings-' if settings else ''}{'dark' if dark else 'light'}-{'phone' if phone else 'desktop'}.png"
    page.screenshot(path=str(SCREENSHOTS / file), full_page=True)
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_chats_watches_the_answer_stream_and_rates_it(live_server, provider, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The first routed request of a run trains the analyzer (seconds on a loaded 2-core machine).
    expect.set_options(timeout=60_000)
    for name in ("ada", "eve"):
        get_user_model().objects.create_user(name, password=f"pw-{name}-123")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        sign_in(page, live_server.url, "ada")
        page.evaluate(WATCH_STREAM)
        page.get_by_label("Your message").fill("Say hello to the team.")
        page.get_by_label("Your message").press("Control+Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".answer-meta .model")).to_have_text("fake-ok")
        expect(answer).to_contain_text("Hello from the local provider.")
        expect(answer.locator(".answer-meta")).to_contain_text("$")
        seen = page.evaluate("window.seen")
        assert len(seen) >= 2 and all("Hello from the local provider.".startswith(s) for s in seen)
        expect(page.get_by_label("Your message")).to_have_value("")  # ready for the next message
        conversation = Conversation.objects.get()
        page.wait_for_url(f"**/chat/c/{conversation.pk}/")
        expect(page.locator(".chat-list [aria-current=page]")).to_have_text("Say hello to the team.")
        answer.get_by_label("Comment on this answer (optional)").fill("Too short for a team greeting.")
        answer.get_by_role("button", name="bad answer").click()
        expect(page.locator(".rated")).to_contain_text("rated bad")
        answer.get_by_role("button", name="bad answer").click()  # twice: still one rating
        expect(page.locator(".rated")).to_contain_text("rated bad")
        assert page.evaluate("getComputedStyle(document.querySelector('.icon-up')).maskImage").startswith("url(")

        page.reload()
        expect(page.locator(".chat-list")).to_contain_text("Say hello to the team.")
        expect(page.locator(".msg.assistant .answer-meta .model")).to_have_text("fake-ok")

        other = browser.new_context().new_page()
        sign_in(other, live_server.url, "eve")
        expect(other.locator(".chat-list")).not_to_contain_text("Say hello")
        assert other.goto(f"{live_server.url}/chat/c/{conversation.pk}/").status == 404
        for dark in (False, True):
            for phone in (False, True):
                shoot(browser, live_server.url, "ada", f"/chat/c/{conversation.pk}/", dark=dark, phone=phone)
        browser.close()
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment) == (-1, "Too short for a team greeting.")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_cost_slider_and_a_pin_change_who_answers(live_server, strong_and_cheap, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    expect.set_options(timeout=60_000)
    get_user_model().objects.create_user("ada", password="pw-ada-123")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        sign_in(page, live_server.url, "ada")
        page.get_by_label("Your message").fill("Write a short poem about the sea.")
        page.get_by_text("Routing settings").click()
        page.get_by_label("Profile").select_option("quality-first")
        first = page.locator("#preview .candidate.first")
        expect(first).to_have_attribute("data-model", "strong")
        cost = page.locator("input[type=range][name=cost]")
        cost.fill("1")
        expect(page.locator(".slider.overridden")).to_contain_text("Cost")
        expect(page.locator("#settings-summary")).to_contain_text("1 slider overridden")
        expect(first).to_have_attribute("data-model", "cheap")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg.assistant .answer-meta .model").last).to_have_text("cheap")

        page.get_by_label("Your message").fill("And one about the mountains.")
        expect(page.locator("#preview .candidate.first")).to_have_attribute("data-model", "cheap")
        page.get_by_role("button", name="Pin strong for the next message").click()
        expect(page.get_by_label("Pin a model for the next message")).to_have_value("strong")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg.assistant .answer-meta .model")).to_have_count(2)
        expect(page.locator(".msg.assistant .answer-meta .model").last).to_have_text("strong")
        expect(page.get_by_label("Pin a model for the next message")).to_have_value("")
        for dark in (False, True):
            for phone in (False, True):
                shoot(browser, live_server.url, "ada", page.url.removeprefix(live_server.url), dark=dark, phone=phone,
                      settings=True)
        browser.close()
    assert [m.model_name for m in Conversation.objects.get().messages.filter(role="assistant")] == ["cheap", "strong"]

"""The chat page in a real browser (Debian's chromium through Playwright): sign in, ask, watch the
answer stream in, rate it, find the conversation again; another person is refused it. Stop an
answer midway, continue one cut at its length limit with the keyboard alone, and use the page
without JavaScript at phone width in dark mode."""

import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from feedback.models import Feedback
from routing.models import Conversation, Message, Usage
from tests.conftest import wait_until

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
    save(page, f"chat-{'settings-' if settings else ''}{'dark' if dark else 'light'}-{'phone' if phone else 'desktop'}")
    context.close()


def save(page, name):
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the side
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


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
        expect(answer.locator(".rated")).to_contain_text("You rated this answer bad, with a comment")
        answer.get_by_role("button", name="bad answer").click()  # twice: still one rating
        expect(answer.locator(".rated")).to_contain_text("You rated this answer bad")
        assert page.evaluate("getComputedStyle(document.querySelector('.icon-up')).maskImage").startswith("url(")

        page.reload()
        expect(page.locator(".chat-list")).to_contain_text("Say hello to the team.")
        expect(page.locator(".msg.assistant .answer-meta .model")).to_have_text("fake-ok")
        # The rating as it stands: the thumb pressed, the comment in its box.
        expect(page.get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "false")
        expect(page.get_by_label("Comment on this answer (optional)")).to_have_value("Too short for a team greeting.")

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
        save(page, "chat-cut-light-desktop")
        expect(page.locator(".msg.assistant .answer-meta .model").last).to_have_text("strong")
        expect(page.get_by_label("Pin a model for the next message")).to_have_value("")
        for dark in (False, True):
            for phone in (False, True):
                shoot(browser, live_server.url, "ada", page.url.removeprefix(live_server.url), dark=dark, phone=phone,
                      settings=True)
        browser.close()
    assert [m.model_name for m in Conversation.objects.get().messages.filter(role="assistant")] == ["cheap", "strong"]


# The visible controls that have no accessible name (a label, aria-label or text).
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, summary, a[href]')]
  .filter(e => e.getClientRects().length)
  .filter(e => !([...(e.labels || [])].map(l => l.textContent).join('') || e.getAttribute('aria-label')
                 || e.textContent).trim())
  .map(e => e.outerHTML.slice(0, 120))"""

# Whether the focused element shows where the focus is (an outline that is drawn).
FOCUS_SHOWN = """() => { const s = getComputedStyle(document.activeElement);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0; }"""


def browse(p, **context):
    from playwright.sync_api import expect

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the tests are still sync.
    expect.set_options(timeout=60_000)  # the first routed request of a run trains the analyzer
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    return browser, browser.new_context(**context).new_page()


def tab_to(page, target, limit=60):
    """Press Tab until `target` has the focus; every stop on the way must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            continue  # past the last control, the focus leaves the page; the next Tab comes back at the top
        assert page.evaluate(FOCUS_SHOWN), page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        if target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_stops_an_answer_midway_and_keeps_what_came(live_server, local_provider, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    server = local_provider({"fake-ok": 0.5}).server
    server.delay_s = 2.0  # the first words come late: the page says it is waiting
    server.stream_pause_s = 5.0  # then a word at a time, slowly enough to stop it
    get_user_model().objects.create_user("ada", password="pw-ada-123")
    with sync_playwright() as p:
        browser, page = browse(p)
        sign_in(page, live_server.url, "ada")
        page.get_by_label("Your message").fill("Say hello to the team.")
        page.get_by_role("button", name="Send").click()
        streaming = page.locator(".msg.assistant.streaming")
        expect(streaming).to_have_attribute("aria-live", "polite")
        expect(streaming.locator(".waiting")).to_be_visible()
        expect(streaming.locator(".answer-body")).to_contain_text("Hello")
        page.get_by_role("button", name="Stop").click()
        expect(streaming.locator(".notice.stopped")).to_contain_text("kept in this conversation, marked as partial")
        expect(streaming).to_have_class(re.compile("status-partial"))
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        # The server learns of the stop when it next writes; then it keeps the answer.
        wait_until(lambda: Message.objects.filter(role="assistant").exists())
        kept = Message.objects.get(role="assistant")
        assert kept.status == Message.Status.PARTIAL and kept.content.startswith("Hello")
        assert kept.content != "Hello from the local provider."
        page.reload()
        answer = page.locator(".msg.assistant")
        expect(answer).to_have_class(re.compile("status-partial"))
        expect(answer.locator(".answer-body")).to_have_text(kept.content)
        expect(answer).to_contain_text("Partial answer")
        expect(answer).to_contain_text("Billed once for what was generated")
        expect(answer.get_by_text("Reasons for this model")).to_be_visible()
        save(page, "chat-stopped-light-desktop")
        browser.close()
    usage = Usage.objects.get()  # billed once, for what was generated
    assert usage.decision_id == kept.decision_id and usage.cost_usd == kept.cost_usd > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_cut_answer_is_continued_with_the_keyboard_alone(live_server, local_provider, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    local_provider({"longwinded": 0.5}, answers_as="fake-length")
    get_user_model().objects.create_user("ada", password="pw-ada-123")
    with sync_playwright() as p:
        browser, page = browse(p)
        sign_in(page, live_server.url, "ada")
        assert page.evaluate(UNLABELLED) == []
        page.get_by_text("Routing settings").click()
        assert page.evaluate(UNLABELLED) == []  # the settings' controls too
        page.get_by_text("Routing settings").click()
        assert page.get_attribute("#preview", "aria-live") == "polite"
        page.reload()  # the keyboard alone from here, from the top of the page
        tab_to(page, page.get_by_label("Your message"))
        page.keyboard.type("Tell me a long story.")
        page.keyboard.press("Control+Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".notice.cut")).to_contain_text("stopped at the length limit")
        expect(answer.locator(".answer-meta .model")).to_have_text("longwinded")
        expect(page.locator("h1")).to_have_text("Tell me a long story.")  # the new conversation names the page
        tab_to(page, answer.get_by_role("button", name="Continue the answer"))
        page.keyboard.press("Enter")
        expect(page.locator(".msg.user").last).to_have_text("Please continue where you stopped.")
        expect(page.locator(".msg.assistant .answer-meta .model")).to_have_count(2)
        save(page, "chat-cut-light-desktop")
        good = page.locator(".msg.assistant").last.get_by_role("button", name="Good answer")
        tab_to(page, good)
        page.keyboard.press("Space")
        expect(page.locator(".msg.assistant").last.locator(".rated")).to_contain_text("You rated this answer good")
        assert page.evaluate("document.activeElement.getAttribute('aria-pressed')") == "true"  # focus kept
        browser.close()
    conversation = Conversation.objects.get()
    assert [m.role for m in conversation.messages.all()] == ["user", "assistant"] * 2
    assert Feedback.objects.get().rating == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_page_works_without_javascript_at_phone_width_in_dark_mode(live_server, fake_provider, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    get_user_model().objects.create_user("ada", password="pw-ada-123")
    with sync_playwright() as p:
        browser, page = browse(p, java_script_enabled=False, color_scheme="dark", viewport={"width": 390, "height": 844})
        sign_in(page, live_server.url, "ada")
        page.get_by_label("Your message").fill("Say hello to the team.")
        page.get_by_role("button", name="Send").click()  # a plain form post; the page comes back answered
        conversation = Conversation.objects.get()
        page.wait_for_url(f"**/chat/c/{conversation.pk}/")
        answer = page.locator(".msg.assistant")
        expect(answer).to_contain_text("Hello from the local provider.")
        expect(answer.locator(".answer-meta .model")).to_have_text("fake-ok")
        answer.get_by_label("Comment on this answer (optional)").fill("Friendly.")
        answer.get_by_role("button", name="Good answer").click()
        page.wait_for_url(f"**/chat/c/{conversation.pk}/")
        expect(page.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        dark = page.evaluate("""() => ['body', 'textarea', '.msg.assistant'].map(s => document.querySelector(s))
          .map(e => getComputedStyle(e).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number))""")
        assert all(sum(rgb) < 200 for rgb in dark), dark
        save(page, "chat-nojs-dark-phone")
        browser.close()
    assert (Feedback.objects.get().rating, Feedback.objects.get().comment) == (1, "Friendly.")

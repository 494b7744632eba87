"""The chat's "Check a cheap answer first" setting in a real browser: ticked with the keyboard, sent
with the message, and each answer's routing details saying what the cascade did; the decision page
behind "Why this model" shows its steps. Screenshots in light and dark."""

import pytest
from django.contrib.auth import get_user_model

from routing.models import PreferenceProfile
from tests.routing.cascades import QUESTION, TERMS, answering
from tests.routing.chat.test_chat_browser import browse, save, sign_in


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_person_asks_for_a_cheap_answer_first_and_sees_what_the_cascade_did(live_server, trio, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    get_user_model().objects.create_user("ada", password="pw-ada-123")
    # Quality well above cost: the large model is worth its price when the small ones disagree.
    PreferenceProfile.objects.filter(name="balanced").update(weights=TERMS["optiroute"]["preferences"])
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    with sync_playwright() as p:
        browser, page = browse(p, viewport={"width": 1280, "height": 900})
        sign_in(page, live_server.url, "ada")
        page.get_by_text("Routing settings").click()
        box = page.get_by_label("Check a cheap answer first")
        expect(box).not_to_be_checked()
        box.focus()
        page.keyboard.press("Space")
        expect(box).to_be_checked()
        expect(page.locator("#settings-summary")).to_contain_text("cheap answer checked first")
        page.get_by_label("Your message").fill(QUESTION)
        expect(page.locator("#preview")).to_contain_text("Cheap answer first: small-a and small-b answer")
        save(page, "chat-cascade-preview")
        page.get_by_label("Your message").press("Control+Enter")
        first = page.locator(".msg.assistant").last
        expect(first.locator(".notice.cascade")).to_contain_text(
            "small-a answered B; small-b agreed; returned without escalating")

        answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")
        expect(page.get_by_label("Check a cheap answer first")).to_be_checked()
        page.get_by_label("Your message").fill(QUESTION.replace("1000", "1001"))
        page.get_by_label("Your message").press("Control+Enter")
        second = page.locator(".msg.assistant").nth(1)
        expect(second.locator(".answer-meta .model")).to_have_text("large")
        expect(second.locator(".notice.cascade")).to_contain_text(
            "escalated to large: the second model's answer disagreed with the first")
        assert second.inner_text().count("escalated to large") == 1  # the gateway's notice is not repeated
        conversation_url = page.url
        for scheme in ("light", "dark"):
            shot = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900}).new_page()
            sign_in(shot, live_server.url, "ada")
            shot.goto(conversation_url)
            shot.get_by_text("Routing settings").click()
            save(shot, f"chat-cascade-{scheme}")
            shot.locator(".msg.assistant").nth(1).get_by_role("link", name="Why this model").click()
            expect(shot.locator("section.cascade")).to_contain_text("escalated")
            save(shot, f"decision-cascade-{scheme}")
            shot.context.close()
        browser.close()

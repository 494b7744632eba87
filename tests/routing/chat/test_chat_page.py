"""The browser chat: signed-in users talk to routed models, see who answered and why, and rate answers."""

import pytest
from django.contrib.auth import get_user_model

from feedback.models import Feedback
from registry.models import LLM
from routing.models import ApiKey, Cohort, Conversation, Decision, Message, PreferenceProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(fake_provider):
    return fake_provider


def send(client, message, conversation=None, **extra):
    url = f"/chat/c/{conversation.pk}/" if conversation else "/chat/"
    return client.post(url, {"message": message, "profile": "auto", **extra})


def test_it_asks_people_to_sign_in(client):
    response = client.get("/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/")["Location"] == "/chat/"


def test_signing_out_lands_on_the_sign_in_page(client, member):
    response = client.post("/accounts/logout/", {"next": "/accounts/login/"})
    assert response["Location"] == "/accounts/login/"
    client.force_login(member)
    assert 'name="next" value="/accounts/login/"' in client.get("/chat/").content.decode()


def test_it_answers_and_says_who_answered_and_why(provider, client, member):
    response = send(client, "Say hello to the team.")
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/chat/c/{conversation.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert "Hello from the local provider." in html
    decision = Decision.objects.get()
    assert decision.answered_by.name == "fake-ok" and decision.explanation.split(" for ")[0] in html
    assert f"/chat/feedback/{decision.pk}/up/" in html and f"/chat/decisions/{decision.pk}/" in html
    key = ApiKey.objects.get(user=member)
    assert decision.api_key == key and key.cohort.name == "default"
    # The conversation goes along with the next message.
    send(client, "And to the managers.", conversation)
    assert provider.calls["fake-ok"] == 2
    assert [m.role for m in conversation.messages.all()] == ["user", "assistant", "user", "assistant"]


def test_a_conversation_survives_a_reload_with_each_answers_facts(provider, client, member):
    send(client, "Say hello to the team.")
    conversation = Conversation.objects.get()
    answer = conversation.messages.get(role="assistant")
    assert answer.status == Message.Status.COMPLETE and answer.model_name == "fake-ok"
    assert answer.cost_usd > 0 and answer.latency_ms is not None and answer.decision_id == Decision.objects.get().pk
    client.logout()
    client.force_login(member)  # another session, as on another device
    page = client.get("/chat/").content.decode()
    assert "Say hello to the team." in page and f"/chat/c/{conversation.pk}/" in page
    html = client.get(f"/chat/c/{conversation.pk}/").content.decode()
    assert "fake-ok" in html and "Why this model" in html and "Good<span class=\"visually-hidden\"> answer" in html
    assert "Message object" not in html and 'class="messages" role="status"' not in html  # no stray notices


def test_answers_are_markdown_made_safe():
    from routing.chat.markdown import markdown_to_html

    html = markdown_to_html("**bold**\n\n```python\nprint(1)\n```\n\n<script>alert(1)</script> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html and '<pre><code>print(1)' in html
    assert "<script>" not in html and 'href="javascript' not in html


def test_conversations_can_be_renamed_and_deleted(provider, client, member):
    send(client, "Say hello to the team.")
    conversation = Conversation.objects.get()
    client.post(f"/chat/c/{conversation.pk}/rename/", {"title": "Greetings"})
    assert Conversation.objects.get().title == "Greetings"
    page = client.post(f"/chat/c/{conversation.pk}/rename/", {"title": "  "}, follow=True).content.decode()
    assert "The conversation keeps its title: This field is required." in page
    assert Conversation.objects.get().title == "Greetings"
    assert client.post(f"/chat/c/{conversation.pk}/delete/")["Location"] == "/chat/"
    assert not Conversation.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize("staff", [False, True])
def test_other_people_get_not_found(provider, client, member, staff):
    send(client, "Say hello to the team.")
    conversation, decision = Conversation.objects.get(), Decision.objects.get()
    other = get_user_model().objects.create_user("eve", password="pw-eve-123", is_staff=staff, is_superuser=staff)
    client.force_login(other)
    assert client.get(f"/chat/c/{conversation.pk}/").status_code == 404
    assert client.post(f"/chat/c/{conversation.pk}/", {"message": "hi"}).status_code == 404
    assert client.post(f"/chat/c/{conversation.pk}/rename/", {"title": "mine"}).status_code == 404
    assert client.post(f"/chat/c/{conversation.pk}/delete/").status_code == 404
    assert client.post("/chat/stream/", {"message": "hi", "conversation": conversation.pk}).status_code == 404
    assert client.get(f"/chat/decisions/{decision.pk}/").status_code == 404
    assert "Say hello" not in client.get("/chat/").content.decode()
    assert Conversation.objects.get().title.startswith("Say hello") and Message.objects.count() == 2


def test_the_owner_opens_the_decisions_explanation(provider, client, member):
    send(client, "Say hello to the team.")
    decision = Decision.objects.get()
    page = client.get(f"/chat/decisions/{decision.pk}/")
    assert page.status_code == 200 and decision.explanation in page.content.decode()
    # The weights it was routed with, in slider order, as the console's copy of the page shows them.
    assert '<span class="chip">accuracy ' in page.content.decode()


def test_the_picker_starts_on_the_cohorts_default_profile(provider, client, member):
    cohort = Cohort.objects.create(name="research", default_profile=PreferenceProfile.objects.get(name="quality-first"))
    cohort.members.add(member)
    html = client.get("/chat/").content.decode()
    assert '<option value="quality-first" selected>' in html


def test_a_rating_from_the_page_is_stored(provider, client, member):
    send(client, "Say hello to the team.")
    decision = Decision.objects.get()
    response = client.post(f"/chat/feedback/{decision.pk}/down/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "You rated this answer bad" in response.content.decode()
    assert Feedback.objects.get().rating == -1
    # Without JavaScript the rating form posts the page, and lands back on the conversation.
    back = f"/chat/c/{Conversation.objects.get().pk}/"
    assert client.post(f"/chat/feedback/{decision.pk}/up/", {"next": back})["Location"] == back
    assert client.post(f"/chat/feedback/{decision.pk}/up/", {"next": "https://evil.example/"})["Location"] == "/chat/"
    assert Feedback.objects.get().rating == 1
    Decision.objects.update(answered_by=None)  # a refusal says why, in place of the thumbs
    response = client.post(f"/chat/feedback/{decision.pk}/down/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 409 and "only an answered chat completion" in html and 'id="rate-up-' in html


def test_a_second_rating_with_a_comment_changes_the_first(provider, client, member):
    send(client, "Say hello to the team.")
    decision = Decision.objects.get()
    client.post(f"/chat/feedback/{decision.pk}/down/", {"comment": "too short"}, HTTP_HX_REQUEST="true")
    response = client.post(f"/chat/feedback/{decision.pk}/up/", {"comment": "  fine after all "},
                           HTTP_HX_REQUEST="true")
    assert "You rated this answer good, with a comment" in response.content.decode()
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment) == (1, "fine after all")
    html = client.get(f"/chat/c/{Conversation.objects.get().pk}/").content.decode()
    # After a reload the thumbs show the rating and its comment as they stand.
    assert f'id="rate-up-{decision.pk}" class="thumb chosen"' in html and html.count('aria-pressed="true"') == 1
    assert 'value="fine after all"' in html and "You rated this answer good" in html
    assert 'name="comment"' in html and "vendor/lucide" not in html  # icons come by the stylesheet
    assert "\U0001f44d" not in html and "\U0001f44e" not in html


def test_the_chat_keeps_to_the_members_cohort(provider, client, member):
    cohort = Cohort.objects.create(name="research")
    cohort.members.add(member)
    cohort.allowed_models.set(LLM.objects.filter(name="fake-ok"))
    send(client, "Say hello to the team.")
    assert Decision.objects.get().cohort == cohort


def test_errors_are_shown_not_raised(provider, client, member):
    assert send(client, "   ").status_code == 400
    cohort = Cohort.objects.get(name="default")
    cohort.monthly_budget_usd = "0"
    cohort.save()
    page = client.get(send(client, "Say hello to the team.")["Location"])
    assert page.status_code == 200 and "monthly budget" in page.content.decode()
    assert Message.objects.get(role="assistant").status == Message.Status.ERROR


def test_a_revoked_chat_key_blocks_the_chat(provider, client, member):
    send(client, "Say hello to the team.")
    ApiKey.objects.get(user=member).revoke()
    page = client.get("/chat/")
    assert page.status_code == 403 and "revoked" in page.content.decode()


def test_an_answer_cut_at_the_length_limit_says_so_and_offers_to_continue(provider, client, member):
    client.post("/chat/", {"message": "Say hello to the team.", "profile": "quality-first", "cost": "1"})
    conversation = Conversation.objects.get()
    settings = dict(conversation.settings)
    Message.objects.filter(role="assistant").update(finish_reason="length")
    html = client.get(f"/chat/c/{conversation.pk}/").content.decode()
    assert "stopped at the length limit" in html and "Continue the answer" in html
    # "Continue" sends a message and no settings: the conversation keeps its own.
    client.post(f"/chat/c/{conversation.pk}/", {"message": "Please continue where you stopped."})
    conversation.refresh_from_db()
    assert conversation.settings == settings and conversation.messages.count() == 4

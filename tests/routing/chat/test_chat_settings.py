"""A conversation's routing settings: profile, sliders, constraints, a pinned model, the live
preview, and stickiness between turns."""

import pytest
from django.contrib.auth import get_user_model

from routing.models import SLIDERS, Cohort, Conversation, Decision, PreferenceProfile

pytestmark = pytest.mark.django_db
QUESTION = "Write a short poem about the sea."


def weights(profile, **overrides):
    values = PreferenceProfile.objects.get(name=profile).full_weights()
    return {**values, **overrides}


def form(message=QUESTION, profile="quality-first", **extra):
    return {"message": message, "profile": profile, **weights(profile), **extra}


def preview(client, **data):
    return client.post("/chat/preview/", form(**data)).content.decode()


def switch_margin(value):
    Cohort.objects.filter(name="default").update(chat_switch_margin=value)


def first_in_preview(html):
    return html.split('class="candidate first" data-model="')[1].split('"')[0]


def test_the_preview_names_the_model_and_the_cost_slider_changes_it(strong_and_cheap, client, member):
    assert first_in_preview(preview(client)) == "strong"
    html = preview(client, cost=1.0)
    assert first_in_preview(html) == "cheap" and "then" in html and "$" in html
    assert not Decision.objects.exists()  # a preview is a dry run, not stored


def test_the_preview_says_what_is_wrong_with_bad_settings(strong_and_cheap, client, member):
    html = preview(client, max_cost_usd="-1")
    assert "Max cost per request" in html or "max_cost_usd" in html
    assert "greater than or equal to 0" in html
    assert "Start typing" in preview(client, message="")


def test_settings_belong_to_the_conversation_and_apply_to_its_next_message(strong_and_cheap, client, member):
    client.post("/chat/", form())
    conversation = Conversation.objects.get()
    assert Decision.objects.get().answered_by.name == "strong"
    client.post(f"/chat/c/{conversation.pk}/", form(cost=1.0, max_cost_usd="0.01", licenses=["apache-2.0"]))
    conversation.refresh_from_db()
    assert conversation.settings["preferences"] == {"cost": 1.0}
    assert conversation.settings["constraints"] == {"max_cost_usd": 0.01, "licenses": ["apache-2.0"]}
    latest = Decision.objects.order_by("-created_at").first()
    assert latest.weights["cost"] == 1.0 and latest.constraints["max_cost_usd"] == 0.01
    page = client.get(f"/chat/c/{conversation.pk}/").content.decode()
    assert "1 slider overridden" in page and 'class="slider overridden"' in page


def test_the_cohorts_denials_and_local_only_hold(strong_and_cheap, client, member):
    client.post("/chat/", form(denied_models=["strong"]))
    assert Decision.objects.get().answered_by.name == "cheap"
    client.post("/chat/", form(local_only="on"))
    assert Conversation.objects.count() == 2
    assert "No answer" in client.get(f"/chat/c/{Conversation.objects.first().pk}/").content.decode()


def test_a_pinned_model_answers_the_next_message_only(strong_and_cheap, client, member):
    client.post("/chat/", form(pinned="cheap"))
    conversation = Conversation.objects.get()
    answer = conversation.messages.last()
    assert Decision.objects.get().answered_by.name == "cheap" and answer.model_name == "cheap"
    assert answer.meta["switch"] == "You pinned cheap for this message: no routing."
    conversation.refresh_from_db()
    assert conversation.settings["pinned"] == ""
    assert client.post("/chat/", form(pinned="not-a-model")).status_code == 400


def test_the_conversation_sticks_to_its_model_within_the_cohorts_margin(strong_and_cheap, client, member):
    client.post("/chat/", form())
    conversation = Conversation.objects.get()
    # A slight nudge toward cost: routing alone would now pick cheap, but not by the margin.
    switch_margin(0.5)
    client.post(f"/chat/c/{conversation.pk}/", form(cost=1.0))
    last = conversation.messages.last()
    assert last.model_name == "strong" and "Kept strong" in Decision.objects.order_by("-created_at")[0].explanation
    switch_margin(0.0)
    client.post(f"/chat/c/{conversation.pk}/", form(cost=1.0))
    last = conversation.messages.last()
    assert last.model_name == "cheap" and last.meta["switch"].startswith("Switched from strong to cheap")
    assert "Switched from strong to cheap" in client.get(f"/chat/c/{conversation.pk}/").content.decode()


def test_the_preview_routes_as_the_conversations_next_message_would(strong_and_cheap, client, member):
    client.post("/chat/", form())
    conversation = Conversation.objects.get()
    switch_margin(0.5)
    # Routing alone would now pick cheap; in this conversation strong keeps the next message.
    assert first_in_preview(preview(client, cost=1.0)) == "cheap"
    html = preview(client, cost=1.0, conversation=conversation.pk)
    assert first_in_preview(html) == "strong" and "Kept strong from the previous turn" in html
    switch_margin(0.0)
    html = preview(client, cost=1.0, conversation=conversation.pk)
    assert first_in_preview(html) == "cheap" and "Switched from strong to cheap" in html
    assert Decision.objects.count() == 1  # previews are not stored
    client.post(f"/chat/c/{conversation.pk}/", form(cost=1.0))
    assert conversation.messages.last().model_name == "cheap"  # as the preview said


def test_the_preview_of_another_persons_conversation_is_not_found(strong_and_cheap, client, member):
    other = get_user_model().objects.create_user("eve", password="pw-eve-123")
    conversation = Conversation.objects.create(user=other, title="Eve's")
    assert client.post("/chat/preview/", form(conversation=conversation.pk)).status_code == 404


def test_every_slider_is_labelled_with_its_value(strong_and_cheap, client, member):
    html = client.get("/chat/").content.decode()
    for slider in SLIDERS:
        assert f'for="id_{slider}"' in html and f'name="{slider}"' in html
    assert "<output" in html and "Hard constraints" in html

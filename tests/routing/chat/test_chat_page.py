"""The browser chat: signed-in users talk to routed models, see who answered and why, and rate answers."""

import pytest

from feedback.models import Feedback
from registry.models import LLM
from routing.models import ApiKey, Cohort, Decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(fake_provider):
    return fake_provider


@pytest.fixture
def member(non_staff):
    """Signed in in no cohort: the chat uses the default cohort's terms."""
    return non_staff


def send(client, message, htmx=True, **extra):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post("/chat/", {"message": message, "profile": "auto", **extra}, **headers)


def test_it_asks_people_to_sign_in(client):
    response = client.get("/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/")["Location"] == "/chat/"


def test_it_answers_and_says_who_answered_and_why(provider, member):
    client = member.client
    page = send(client, "Say hello to the team.")
    html = page.content.decode()
    assert page.status_code == 200 and "Hello from the local provider." in html
    decision = Decision.objects.get()
    assert decision.answered_by.name == "fake-ok" and decision.explanation.split(" for ")[0] in html
    assert f"/chat/feedback/{decision.pk}/up/" in html
    key = ApiKey.objects.get(user=member.user)
    assert decision.api_key == key and key.cohort.name == "default"
    # The conversation goes along with the next message.
    send(client, "And to the managers.")
    assert provider.calls["fake-ok"] == 2
    assert "Say hello to the team." in client.get("/chat/").content.decode()


def test_a_rating_from_the_page_is_stored(provider, member):
    client = member.client
    send(client, "Say hello to the team.")
    decision = Decision.objects.get()
    response = client.post(f"/chat/feedback/{decision.pk}/down/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "noted" in response.content.decode()
    assert Feedback.objects.get().rating == -1
    assert client.post(f"/chat/feedback/{decision.pk}/sideways/").status_code == 404


def test_people_cannot_rate_another_cohorts_answers(provider, owner, outsider):
    send(owner.client, "Say hello to the team.")
    decision = Decision.objects.get()
    response = outsider.client.post(f"/chat/feedback/{decision.pk}/up/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and not Feedback.objects.exists()


def test_the_chat_keeps_to_the_members_cohort(provider, owner):
    cohort = owner.cohort
    cohort.allowed_models.set(LLM.objects.filter(name="fake-ok"))
    send(owner.client, "Say hello to the team.")
    assert Decision.objects.get().cohort == cohort


def test_errors_are_shown_not_raised(provider, member):
    client = member.client
    assert send(client, "   ").status_code == 400
    cohort = Cohort.objects.get(name="default")
    cohort.monthly_budget_usd = "0"
    cohort.save()
    page = send(client, "Say hello to the team.")
    assert page.status_code == 200 and "monthly budget" in page.content.decode()


def test_a_revoked_chat_key_blocks_the_chat(provider, owner):
    send(owner.client, "Say hello to the team.")
    owner.chat_key.revoke()
    page = owner.client.get("/chat/")
    assert page.status_code == 403 and "revoked" in page.content.decode()

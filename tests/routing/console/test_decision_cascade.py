"""The decision page shows a cascade: its plan, each call with its outcome and cost, the check's
verdicts in words, whether it escalated and why, and the total; or why a requested one was not run."""

import html
import re
from typing import Any

import pytest

from routing.models import Decision
from tests.routing.cascades import QUESTION, TERMS, answering

pytestmark = pytest.mark.django_db


def completed(api: Any, content: str = QUESTION) -> str:
    response = api.post("/v1/chat/completions", {**TERMS, "messages": [{"role": "user", "content": content}]},
                        format="json")
    assert response.status_code == 200, response.content
    return str(response.json()["optiroute"]["decision_id"])


def cascade_section(client: Any, decision_id: str) -> str:
    response = client.get(f"/console/decisions/{decision_id}/")
    assert response.status_code == 200
    match = re.search(r'<section class="card cascade".*?</section>', response.content.decode(), re.S)
    assert match, "no cascade section"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def test_it_shows_a_cascade_that_returned_the_cheap_answer(trio: Any, api: Any, client: Any, engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    text = cascade_section(client, completed(api))

    assert "Plan: call small-a and small-b first, read a choice among A, B, C, D from the answer, " \
           "and escalate to large when a check fails." in text
    assert "answer extraction format compliance agreement of the two k-NN estimate" in text
    # 12 tokens in and 6 out at $0.1 per million each: $0.0000018 a call, $0.0000036 in all.
    assert "first call small-a answered $0.0000018" in text and "second call small-b answered $0.0000018" in text
    assert "answer read: B; format kept: yes; second model agreed: yes passed" in text
    assert "Total $0.0000036" in text and "not escalated" in text


def test_it_shows_why_a_cascade_escalated(trio: Any, api: Any, client: Any, engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")

    text = cascade_section(client, completed(api))

    assert "second model agreed: no failed" in text
    assert "escalation large answered $0.000072" in text
    assert "escalated The second model's answer disagreed with the first." in text
    assert "Total $0.000076" in text


def test_it_says_why_a_requested_cascade_was_not_run(trio: Any, api: Any, client: Any, engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    text = cascade_section(client, completed(api, "Write a long essay on the history of the animals in zoos."))

    assert text == "Cascade A cascade was requested but not run: the request asks for no answer that a check " \
                   "can read (long text)."


def test_a_decision_without_a_cascade_has_no_cascade_section(trio: Any, api: Any, client: Any,
                                                              engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    response = api.post("/v1/chat/completions", {"model": "optiroute/auto",
                                                 "messages": [{"role": "user", "content": QUESTION}]}, format="json")

    page = client.get(f"/console/decisions/{response.json()['optiroute']['decision_id']}/")

    assert page.status_code == 200 and b'class="card cascade"' not in page.content


def test_it_shows_a_failed_cheap_call_and_the_escalation(trio: Any, api: Any, client: Any, engineer: Any,
                                                          settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 0
    answering(small_a="fake-500", small_b="fake-letter-b", large="fake-ok")

    text = cascade_section(client, completed(api))

    assert "first call small-a failed" in text and "not checked: call failed failed" in text
    assert "escalation large answered" in text and "A cascade call failed." in text


def test_a_dry_run_shows_the_plan_only(trio: Any, api: Any, client: Any, engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    api.post("/api/v1/route", {"prompt": QUESTION, "cascade": True,
                               "preferences": TERMS["optiroute"]["preferences"]}, format="json")

    text = cascade_section(client, str(Decision.objects.get(mode=Decision.Mode.DRY_RUN).pk))

    assert "Plan: call small-a and small-b first" in text and "Planned only: no model was called (a dry run)." in text
    assert "Total" not in text

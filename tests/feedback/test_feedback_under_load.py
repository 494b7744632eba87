"""10,000 ratings posted at concurrency 32 to OptiRoute under gunicorn: every one answered and
stored exactly once, ratings sent twice at the same moment by retrying clients included."""

import http.client
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.core.management import call_command

from feedback.models import Feedback
from registry.models import LLM
from routing.access.keys import api_key_create
from routing.models import Decision
from tests.conftest import ROOT, _database_url, free_port
from tests.optiroute.test_database_restart import wait_for

PORT = free_port()
RATINGS = 10_000
CONCURRENCY = 32
RETRIED = 6


def post_all(key: str, work: list[tuple[str, str]]) -> list[int]:
    """One kept-alive connection posting its share of the ratings, in order."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses = []
    for decision_id, rating in work:
        conn.request("POST", "/api/v1/feedback", body=json.dumps({"decision_id": decision_id, "rating": rating}),
                     headers=headers)
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    conn.close()
    return statuses


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_thousand_ratings_at_concurrency_32_are_each_stored_once():
    call_command("import_models", verbosity=0)
    api_key, raw = api_key_create(cohort_name=None, label="load")
    llm = LLM.objects.filter(is_active=True).first()
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    decisions = Decision.objects.bulk_create(
        [Decision(mode=Decision.Mode.CHAT, api_key=api_key, cohort=api_key.cohort, chosen_model=llm, answered_by=llm,
                  strategy="knn", embedding=vector, analysis={"task_type": "qa"}) for _ in range(RATINGS)],
        batch_size=2000)
    ids = [str(d.pk) for d in decisions]
    work = [(decision_id, "up" if i % 3 else "down") for i, decision_id in enumerate(ids)]
    shares = [work[i::CONCURRENCY] for i in range(CONCURRENCY)]
    # Retrying clients: each connection starts with its neighbour's first ratings, so the same
    # rating arrives twice at the same moment.
    shares = [shares[i - 1][:RETRIED] + shares[i] for i in range(CONCURRENCY)]

    env = {**os.environ, "DATABASE_URL": _database_url(), "WEB_WORKERS": "2", "WEB_THREADS": "16",
           "OPTIROUTE_RATE_LIMIT_DEFAULT": ""}
    from optiroute.runner import gunicorn_command

    server = subprocess.Popen(gunicorn_command("127.0.0.1", PORT, "--log-level", "warning"), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_ok())
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            statuses = [s for batch in pool.map(lambda share: post_all(raw, share), shares) for s in batch]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert len(statuses) == RATINGS + RETRIED * CONCURRENCY and set(statuses) == {200}
    assert Feedback.objects.count() == RATINGS
    assert Feedback.objects.values("decision").distinct().count() == RATINGS
    assert Feedback.objects.filter(rating=Feedback.Rating.DOWN).count() == len(range(0, RATINGS, 3))


def http_ok() -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    conn.request("GET", "/healthz")
    ok = conn.getresponse().status == 200
    conn.close()
    return ok

"""The database restarted under traffic: requests fail cleanly (503 with Retry-After, JSON under
the API), never a 500 or a hang, and OptiRoute recovers by itself once the database is back."""

import http.client
import json
import os
import subprocess
import time

import pytest
from django.core.management import call_command
from django.db import connection

from routing.access.keys import api_key_create
from tests.conftest import ROOT, free_port
from tests.faults import DatabaseProxy

PORT = free_port()


def call(method, path, key, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("timed out")


@pytest.fixture
def server(transactional_db):
    """OptiRoute under gunicorn, reaching the test database through a proxy that can cut it."""
    call_command("import_models", verbosity=0)
    key = api_key_create(cohort_name=None, label="faults")[1]
    s = connection.settings_dict
    proxy = DatabaseProxy(s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432))
    url = f"postgresql://{s['USER']}:{s['PASSWORD']}@127.0.0.1:{proxy.port}/{s['NAME']}"
    from optiroute.runner import gunicorn_command

    env = {**os.environ, "DATABASE_URL": url, "WEB_WORKERS": "1", "WEB_THREADS": "4", "DB_CONN_MAX_AGE": "60",
           "OPTIROUTE_RATE_LIMIT_DEFAULT": ""}
    process = subprocess.Popen(gunicorn_command("127.0.0.1", PORT, "--log-level", "warning"), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=open("/tmp/gunicorn-faults.log", "w"))
    try:
        wait_for(lambda: call("GET", "/v1/models", key)[0] == 200)
        yield proxy, key
    finally:
        process.terminate()
        process.wait(timeout=30)
        proxy.cut()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_requests_fail_with_503_while_the_database_is_down_then_recover(server):
    proxy, key = server
    route = {"prompt": "Write a haiku about autumn."}
    assert call("POST", "/api/v1/route", key, route)[0] == 200
    proxy.cut()
    seen = []
    deadline = time.monotonic() + 12  # past the API key cache (5 s): every call now needs the database
    while time.monotonic() < deadline:
        for method, path, body in (("GET", "/v1/models", None), ("POST", "/api/v1/route", route)):
            status, headers, payload = call(method, path, key, body)
            seen.append(status)
            assert status in (200, 503), (status, payload[:300])
            if status == 503:
                assert json.loads(payload)["error"]["code"] == "database_unavailable"
                assert headers["Retry-After"] == "5"
        time.sleep(0.3)
    assert 503 in seen
    ready = call("GET", "/readyz", key)
    assert ready[0] == 503 and b"database" in ready[2]
    proxy.restore()
    wait_for(lambda: call("GET", "/v1/models", key)[0] == 200, timeout=60)
    assert call("POST", "/api/v1/route", key, route)[0] == 200

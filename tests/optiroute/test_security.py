"""CSRF on every form; security headers everywhere, and HTTPS-only cookies and redirects in production."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import ROOT

FORM = re.compile(r"<form\b(?P<attrs>[^>]*)>(?P<body>.*?)</form>", re.S | re.I)


def test_every_post_form_in_every_template_carries_the_csrf_token():
    missing = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for form in FORM.finditer(path.read_text()):
            if re.search(r"method=[\"']?post", form["attrs"], re.I) and "{% csrf_token %}" not in form["body"]:
                missing.append(f"{path.relative_to(ROOT)}: <form{form['attrs'][:60]}>")
    assert not missing, "forms without {% csrf_token %}:\n" + "\n".join(missing)


def test_htmx_requests_send_the_csrf_token():
    assert """hx-headers='{"X-CSRFToken": "{{ csrf_token }}"}'""" in (ROOT / "templates" / "base.html").read_text()


@pytest.mark.django_db
def test_a_post_without_the_token_is_refused():
    get_user_model().objects.create_user("ops", password="pw-for-the-test", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.login(username="ops", password="pw-for-the-test")
    response = client.post("/chat/stream/", {"message": "hello"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_responses_carry_the_security_headers(client):
    response = client.get("/accounts/login/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


PRODUCTION_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/accounts/login/")
probe = client.get("/healthz")
secure = client.get("/accounts/login/", secure=True)
print(json.dumps({
    "redirect": [plain.status_code, plain.headers.get("Location")],
    "probe": probe.status_code,
    "hsts": secure.headers.get("Strict-Transport-Security"),
    "cookies": {name: [bool(c["secure"]), bool(c["httponly"]), c["samesite"]] for name, c in secure.cookies.items()},
}))
"""


def test_production_mode_sends_https_only_cookies_hsts_and_redirects_plain_http():
    env = {**os.environ, "OPTIROUTE_ENV": "production", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "testserver",
           "DJANGO_SETTINGS_MODULE": "optiroute.settings"}
    result = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == [301, "https://testserver/accounts/login/"]
    assert seen["probe"] == 200  # probes come over plain HTTP from inside the deployment
    assert seen["hsts"].startswith("max-age=31536000")
    assert seen["cookies"]["csrftoken"] == [True, False, "Lax"]

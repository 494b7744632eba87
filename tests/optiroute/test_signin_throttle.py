"""The admin's and the chat's sign-in refuse an address that keeps guessing an account's password."""

import pytest
from django.contrib.auth import get_user_model

from optiroute.broker import broker_client

pytestmark = pytest.mark.django_db
GUESSER = "198.51.100.7"


@pytest.fixture(autouse=True)
def fresh_counters():
    def clear():
        client = broker_client()
        for key in client.scan_iter("optiroute:signin:*"):
            client.delete(key)

    clear()
    yield
    clear()


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops", password="right-horse-battery", is_staff=True)


def sign_in(client, path, password, address=GUESSER):
    return client.post(path, {"username": "ops", "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/admin/login/", "/accounts/login/"])
def test_it_refuses_even_the_right_password_after_too_many_failures(settings, client, staff, path):
    settings.SIGNIN_MAX_FAILURES = 3
    for _ in range(3):
        assert sign_in(client, path, "wrong").status_code == 200  # the form again, with its error
    refused = sign_in(client, path, "right-horse-battery")
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert "Too many failed sign-ins" in refused.content.decode()


def test_another_address_and_a_correct_first_try_are_not_affected(settings, client, staff):
    settings.SIGNIN_MAX_FAILURES = 2
    for _ in range(2):
        sign_in(client, "/admin/login/", "wrong")
    assert sign_in(client, "/admin/login/", "right-horse-battery", address="192.0.2.1").status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)

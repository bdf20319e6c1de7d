"""Admin sign-in throttling: after the allowed wrong passwords, a username is locked out from
that client address (the real one, behind trusted proxies), with a message and an audit row."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from access.models import StaffAction
from core.clientip import trusted_networks

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-staff-password-1"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def officer(settings) -> User:
    settings.LUP_ADMIN_REQUIRE_OTP = False
    settings.LUP_TRUSTED_NETWORKS = trusted_networks(["10.0.0.0/8"])
    user = User.objects.create_user("officer", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="compliance_officer"))
    return user


def sign_in(password: str, client_ip: str) -> int:
    """Through the proxy at 10.0.0.2, for a client at `client_ip`."""
    response = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_ip).post(
        LOGIN, {"username": "officer", "password": password}
    )
    return response


def test_the_right_password_is_refused_after_too_many_wrong_ones(officer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in("wrong", "198.51.100.1").status_code == 200  # the form again
    locked = sign_in("wrong", "198.51.100.1")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    right = sign_in(PASSWORD, "198.51.100.1")
    assert right.status_code == 429
    (row, *_more) = StaffAction.objects.filter(kind="locked_out").order_by("id")
    assert (row.user_id, row.username, row.address, row.status) == (
        officer.pk,
        "officer",
        "198.51.100.1",
        429,
    )


def test_the_lock_holds_one_client_address_and_not_the_proxy(officer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong", "198.51.100.1")
    assert sign_in(PASSWORD, "198.51.100.1").status_code == 429
    # The same staff member from another address, behind the same proxy, still signs in.
    assert sign_in(PASSWORD, "198.51.100.2").status_code == 302

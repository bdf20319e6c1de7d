"""Two-factor sign-in to the admin: with LUP_ADMIN_REQUIRE_OTP on, a password is not enough;
the code of the staff member's TOTP device is."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-staff-password-1"


@pytest.fixture
def officer() -> User:
    user = User.objects.create_user("officer", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="compliance_officer"))
    return user


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_without_the_setting_a_password_signs_in(officer, settings):
    settings.LUP_ADMIN_REQUIRE_OTP = False
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "officer", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_with_the_setting_the_device_code_is_needed(officer, settings):
    settings.LUP_ADMIN_REQUIRE_OTP = True
    # A minute's back-off after a wrong code, so a slow machine cannot outwait it mid-test.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    client = Client()
    form = client.get("/admin/login/").content.decode()
    assert 'name="otp_token"' in form
    refused = client.post(
        "/admin/login/?next=/admin/", {"username": "officer", "password": PASSWORD}
    )
    assert refused.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
    wrong = f"{(int(current_code(device)) + 1) % 10**6:06d}"
    assert (
        client.post(
            "/admin/login/?next=/admin/",
            {
                "username": "officer",
                "password": PASSWORD,
                "otp_device": device.persistent_id,
                "otp_token": wrong,
            },
        ).status_code
        == 200
    )
    assert client.get("/admin/").status_code == 302
    # A wrong code slows the device down: even the right one is refused at once...
    assert (
        client.post(
            "/admin/login/?next=/admin/",
            {
                "username": "officer",
                "password": PASSWORD,
                "otp_device": device.persistent_id,
                "otp_token": current_code(device),
            },
        ).status_code
        == 200
    )
    # ...until the back-off has passed.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "officer",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": current_code(device),
        },
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_session_signed_in_without_a_device_is_not_let_in(officer, settings):
    settings.LUP_ADMIN_REQUIRE_OTP = True
    client = Client()
    client.force_login(officer)  # a password session, no device verified
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/erasure/erasurerequest/").status_code == 302

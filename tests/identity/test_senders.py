"""Code senders: the e-mail sender writes in the subject's language about what the code
confirms, senders are chosen by identifier type, and a misconfigured sender stops startup with
a check naming the setting."""

import pytest
from django.core.checks import run_checks

from identity.senders import EmailCodeSender, can_send, sender_for
from tests import identifiers


def test_the_email_sender_says_what_the_code_confirms_in_the_subjects_language(
    mailoutbox, settings
):
    address = identifiers.email()
    EmailCodeSender().send(address=address, code="012345", language="km", about="erasure")
    EmailCodeSender().send(address=address, code="678901", language="en", about="consent")
    deletion, consent = mailoutbox
    assert deletion.to == [address] and "012345" in deletion.body
    assert deletion.subject != "Your code to confirm your deletion request"  # in Khmer
    assert consent.subject == "Your code to see your consent choices"
    assert "678901" in consent.body and f"{settings.LUP_CODE_TTL_MINUTES} minutes" in consent.body


def test_senders_are_chosen_by_identifier_type(settings):
    settings.LUP_CODE_SENDERS = {"email": "identity.senders.EmailCodeSender", "phone": ""}
    assert isinstance(sender_for("email"), EmailCodeSender)
    assert sender_for("phone") is None and sender_for("user_id") is None
    assert (can_send("email"), can_send("phone"), can_send("user_id")) == (True, False, False)


@pytest.mark.parametrize(
    "path",
    ["erasure.senders.EmailCodeSender", "identity.senders.sender_for", "identity.nowhere.Sms"],
)
def test_a_sender_that_is_not_a_code_sender_fails_the_system_check(settings, path):
    settings.LUP_CODE_SENDERS = {"email": "identity.senders.EmailCodeSender", "phone": path}
    (error,) = [e for e in run_checks() if e.id == "lup.E060"]
    assert "LUP_CODE_SENDERS['phone']" in error.msg and path in error.msg


def test_code_limits_below_one_fail_the_system_check(settings):
    settings.LUP_CODE_MAX_ATTEMPTS = 0
    (error,) = [e for e in run_checks() if e.id == "lup.E061"]
    assert "LUP_CODE_MAX_ATTEMPTS" in error.msg
    settings.LUP_CODE_MAX_ATTEMPTS = 5
    assert not [e for e in run_checks() if e.id.startswith("lup.E04")]

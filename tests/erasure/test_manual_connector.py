"""A manual target: the run waits for a person, who attests in the admin; the receipt says
`manual-attestation`."""

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from erasure.models import ErasureRequest, TargetRun
from erasure.runs import target_run_execute
from erasure.services import erasure_request_transition
from ledger.models import Receipt
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"


def test_a_person_erases_and_attests(api, django_user_model, django_capture_on_commit_callbacks):
    staff = api("erasure:write", "erasure:read")
    email = identifiers.email()
    made = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "support-archive",
            "kind": "manual",
            "country": "TH",
            "always": True,
            "config": {
                "instructions": "Delete every ticket of this e-mail in the support tool.",
                "id_types": ["email"],
            },
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    approve_proposed_targets()
    created = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    with django_capture_on_commit_callbacks(execute=False):
        staff.post(f"{URL}/{request.pk}/plan")
    run = TargetRun.objects.get(request=request)
    assert target_run_execute(run_id=run.pk).status == "awaiting_person"
    assert target_run_execute(run_id=run.pk).status == "awaiting_person"  # redelivery: waits

    officer = django_user_model.objects.create_user("manual", is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    browser = Client()
    browser.force_login(officer)
    page = browser.get(f"/admin/erasure/manualtask/{run.pk}/change/")
    assert page.status_code == 200
    assert b"Delete every ticket" in page.content and email.lower().encode() in page.content
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(
            f"/admin/erasure/manualtask/{run.pk}/change/", {"erased": "4", "remaining": "0"}
        )
    assert done.status_code == 302, done.content[:2000]
    run.refresh_from_db()
    assert (run.status, run.outcome) == ("done", "erased")
    receipt = json.loads(bytes(Receipt.objects.get(receipt_id=run.receipt_id).payload))
    assert receipt["action"]["method"] == "manual-attestation"
    assert receipt["action"]["count"] == "4"
    assert ErasureRequest.objects.get(pk=request.pk).state == "completed"

"""One call for trusted callers: a token holding `erasure:verify` files a request it verified
itself, with the method and reason in the trail, and has it planned and through the gate in the
same `POST /api/v1/erasure-requests`. Without the scope, `verified` and `plan` are refused and
nothing is filed; approval stays a second person's."""

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from erasure.models import ErasureRequest
from erasure.runs import target_run_execute
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.services import VersionInput
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"
VERIFIED = {"method": "app-session", "reason": "signed in to the app with a second factor"}


@pytest.fixture
def trusted(api):
    return api("erasure:write", "erasure:verify", "erasure:read")


@pytest.fixture
def clerk(api):
    return api("erasure:write", "erasure:read")


def register(api, tmp_path, settings, *, requires_approval: bool = False) -> None:
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "eval.jsonl").touch()  # registration looks for the file
    made = api("erasure:write").post(
        "/api/v1/erasure/targets",
        {
            "name": "eval-set",
            "kind": "jsonl_file",
            "country": "KH",
            "always": True,
            "requires_approval": requires_approval,
            "config": {"path": "eval.jsonl", "match": {"email": "email"}},
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    approve_proposed_targets()


def body(email: str, **extra) -> dict:
    return {"identifiers": [{"id_type": "email", "value": email}], "country": "KH", **extra}


def test_one_call_files_verifies_plans_and_starts_the_request(
    trusted, api, tmp_path, settings, enqueued, django_capture_on_commit_callbacks
):
    register(api, tmp_path, settings)
    email = identifiers.email().lower()
    (tmp_path / "eval.jsonl").write_text(json.dumps({"email": email}) + "\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = trusted.post(URL, body(email, verified=VERIFIED, plan=True), format="json")
    assert response.status_code == 201, response.json()
    filed = response.json()
    assert filed["state"] == "executing"
    trail = [(t["to_state"], t["reason"]) for t in filed["transitions"]]
    assert ("verified", "app-session: signed in to the app with a second factor") in trail
    assert [state for state, _ in trail] == ["received", "verified", "planned", "executing"]
    request = ErasureRequest.objects.get(pk=filed["id"])
    assert request.deadline is not None  # counted from the caller's verification
    assert enqueued == [request.runs.get().pk]  # started at once: no approval needed
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=enqueued[0])
    request.refresh_from_db()
    assert request.state == "completed"
    assert (tmp_path / "eval.jsonl").read_text() == ""


def test_the_one_call_plans_from_what_it_filed_and_still_stops_for_a_trained_model(
    trusted, api, tmp_path, settings
):
    """Planning in the filing's transaction reads back neither the keys it filed, nor a plan
    or affected models the new request cannot have; a model trained on the subject still
    stops the request for approval."""
    register(api, tmp_path, settings)
    email = identifiers.email().lower()
    version = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://train", name="chats"),
        data=VersionInput(version="1"),
    )
    lineage.model_version_register(
        namespace="m", name="assistant", version="1", trained_on=[version]
    )
    membership_upload(
        version=version,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    with CaptureQueriesContext(connection) as queries:
        response = trusted.post(URL, body(email, verified=VERIFIED, plan=True), format="json")
    assert (response.status_code, response.json()["state"]) == (201, "awaiting_approval")
    request = ErasureRequest.objects.get(pk=response.json()["id"])
    assert request.affected_models.get().model_version.version == "1"
    read_back = [
        q["sql"]
        for q in queries
        if q["sql"].startswith(
            (
                'SELECT "erasure_requestsubjectkey"',
                'DELETE FROM "erasure_planentry"',
                'SELECT 1 AS "a" FROM "erasure_affectedmodel"',
            )
        )
    ]
    assert read_back == []


def test_a_one_call_filing_with_no_target_to_touch_closes_at_once(trusted):
    """Nothing is registered: the request is verified, planned with no target, started and
    closed in the one call, every step in its trail and the closing receipt issued."""
    response = trusted.post(
        URL, body(identifiers.email(), verified=VERIFIED, plan=True), format="json"
    )
    assert response.status_code == 201, response.json()
    trail = [t["to_state"] for t in response.json()["transitions"]]
    assert trail[:4] == ["received", "verified", "planned", "executing"]
    request = ErasureRequest.objects.get(pk=response.json()["id"])
    assert request.state == "completed"
    assert list(request.transitions.values_list("to_state", flat=True)) == [
        "received",
        "verified",
        "planned",
        "executing",
        "completed",
    ]
    assert request.closing_receipt_id is not None
    assert request.verified_at is not None and request.deadline is not None


def test_verified_without_plan_leaves_the_request_verified(trusted):
    response = trusted.post(URL, body(identifiers.email(), verified=VERIFIED), format="json")
    assert (response.status_code, response.json()["state"]) == (201, "verified")


def test_without_the_scope_verified_or_plan_is_refused_and_nothing_is_filed(clerk, api):
    for extra in ({"verified": VERIFIED}, {"plan": True}, {"verified": VERIFIED, "plan": True}):
        refused = clerk.post(URL, body(identifiers.email(), **extra), format="json")
        assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
        assert refused.json()["fields"] == {"scope": "erasure:verify"}
    # The scope alone files nothing either: `erasure:write` files.
    only_verify = api("erasure:verify").post(
        URL, body(identifiers.email(), verified=VERIFIED), format="json"
    )
    assert only_verify.status_code == 403
    assert not ErasureRequest.objects.exists()
    # Sent as "no", they ask for nothing: an ordinary filing.
    plain = clerk.post(URL, body(identifiers.email(), plan=False, verified=None), format="json")
    assert (plain.status_code, plain.json()["state"]) == (201, "received")


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"plan": True}, "verification_required"),
        ({"verified": {"method": "app-session"}, "plan": True}, "invalid"),
        ({"verified": {"method": " ", "reason": " "}}, "invalid"),
        ({"verified": "yes"}, "invalid"),
        ({"verified": VERIFIED, "plan": "maybe"}, "invalid"),
    ],
)
def test_a_bad_trusted_filing_is_refused_and_files_nothing(trusted, extra, code):
    refused = trusted.post(URL, body(identifiers.email(), **extra), format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.json()
    assert not ErasureRequest.objects.exists()


def test_a_bad_identifier_in_a_trusted_filing_files_nothing(trusted):
    refused = trusted.post(URL, body("not-an-email", verified=VERIFIED, plan=True), format="json")
    assert refused.status_code == 400
    assert not ErasureRequest.objects.exists()


def test_approval_stays_a_second_persons(api, tmp_path, settings, enqueued):
    register(api, tmp_path, settings, requires_approval=True)
    caller = api("erasure:write", "erasure:verify", "erasure:approve", "erasure:read")
    filed = caller.post(URL, body(identifiers.email(), verified=VERIFIED, plan=True), format="json")
    assert filed.json()["state"] == "awaiting_approval"
    request_id = filed.json()["id"]
    own = caller.post(f"{URL}/{request_id}/approve", {"reason": "fine"}, format="json")
    assert (own.status_code, own.json()["code"]) == (403, "self_approval")
    officer = api("erasure:approve", "erasure:read")
    approved = officer.post(f"{URL}/{request_id}/approve", {"reason": "fine"}, format="json")
    assert (approved.status_code, approved.json()["state"]) == (200, "executing")


def test_a_replayed_trusted_filing_is_the_same_request(trusted, clerk):
    email = identifiers.email()
    first = trusted.post(
        URL, body(email, verified=VERIFIED), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = trusted.post(
        URL, body(email, verified=VERIFIED), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    # The same key with the verification left out is another body.
    other = trusted.post(URL, body(email), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert ErasureRequest.objects.count() == 1


def test_a_trusted_filing_for_a_subject_with_an_open_request_waits_for_it(
    api, tmp_path, settings, enqueued
):
    """Filed and verified in one call, but not planned while an earlier request for the same
    subject is open: it is linked to it, and planned on `…/plan` once that one has closed."""
    register(api, tmp_path, settings, requires_approval=True)
    caller = api("erasure:write", "erasure:verify", "erasure:read")
    email = identifiers.email()
    first = caller.post(URL, body(email, verified=VERIFIED, plan=True), format="json").json()
    assert first["state"] == "awaiting_approval"  # open
    second = caller.post(URL, body(email, verified=VERIFIED, plan=True), format="json")
    assert second.status_code == 201
    assert (second.json()["state"], second.json()["linked_to"]) == ("verified", first["id"])

    officer = api("erasure:approve", "erasure:read")
    denied = officer.post(f"{URL}/{first['id']}/deny", {"reason": "duplicate"}, format="json")
    assert denied.json()["state"] == "denied"
    planned = caller.post(f"{URL}/{second.json()['id']}/plan")
    assert (planned.status_code, planned.json()["state"]) == (201, "awaiting_approval")

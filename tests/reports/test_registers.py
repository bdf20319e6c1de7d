"""The registers a regulator asks for, downloaded from the admin as CSV: the right rows for each
filter, the right figures, and nothing that identifies a subject."""

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission, User

from consent.models import ConsentEvent, SubjectIdentifier
from erasure.models import ErasureRequest, PlanEntry, RequestSubjectKey, Target
from erasure.services import erasure_request_create, erasure_request_transition
from reports.admin.registers import csv_stream
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db

REQUESTS_CSV = "/admin/registers/erasure-requests.csv"
CONSENT_CSV = "/admin/registers/consent.csv"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def officer(client):
    user = User.objects.create_user("officer-registers", is_staff=True)
    user.groups.add(Group.objects.get(name="compliance_officer"))
    client.force_login(user)
    return client


def download(client, url: str, **params) -> list[dict[str, str]]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def raw(client, url: str, **params) -> str:
    return b"".join(client.get(url, params).streaming_content).decode()


def file_request(
    email: str,
    country: str,
    received: str,
    *,
    steps: list[tuple[str, str]] = (),
    deadline: str | None = None,
) -> ErasureRequest:
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country=country,
        channel="portal",
        actor="portal",
        now=at(received),
    )
    for state, when in steps:
        request = erasure_request_transition(
            request=request, to_state=state, actor="staff:t", now=at(when)
        )
    if deadline:
        ErasureRequest.objects.filter(pk=request.pk).update(deadline=at(deadline))
    return ErasureRequest.objects.get(pk=request.pk)


@pytest.fixture
def requests():
    emails = [identifiers.email() for _ in range(4)]
    on_time = file_request(
        emails[0],
        "KH",
        "2026-03-10T06:00:00",
        steps=[
            ("verified", "2026-03-11T06:00:00"),
            ("planned", "2026-03-11T07:00:00"),
            ("executing", "2026-03-11T08:00:00"),
            ("completed", "2026-03-13T18:00:00"),
        ],
        deadline="2026-03-20T00:00:00",
    )
    receipt = uuid.uuid4()
    ErasureRequest.objects.filter(pk=on_time.pk).update(closing_receipt_id=receipt)
    for name in ("crm", "eval-set"):
        target = Target.objects.create(name=name, kind="manual", country="SG")
        PlanEntry.objects.create(request=on_time, target=target)
    late = file_request(
        emails[1],
        "VN",
        "2026-04-02T00:00:00",
        steps=[
            ("verified", "2026-04-03T00:00:00"),
            ("planned", "2026-04-03T01:00:00"),
            ("executing", "2026-04-03T02:00:00"),
            ("completed", "2026-05-20T00:00:00"),
        ],
        deadline="2026-05-01T00:00:00",
    )
    still_open = file_request(
        emails[2], "TH", "2026-04-15T09:00:00", steps=[("verified", "2026-04-16T09:00:00")]
    )
    denied = file_request(
        emails[3], "KH", "2026-05-05T00:00:00", steps=[("denied", "2026-05-06T12:00:00")]
    )
    return {
        "on_time": on_time,
        "late": late,
        "open": still_open,
        "denied": denied,
        "emails": emails,
        "receipt": receipt,
    }


def ids(rows) -> set[str]:
    return {row["request_id"] for row in rows}


def test_the_request_register_has_every_column_and_the_right_figures(officer, requests):
    rows = {row["request_id"]: row for row in download(officer, REQUESTS_CSV)}
    assert list(next(iter(rows.values()))) == [
        "request_id",
        "channel",
        "subject_country",
        "received_at",
        "verified_at",
        "deadline",
        "closed_at",
        "state",
        "days_taken",
        "met_deadline",
        "jurisdictions_considered",
        "targets",
        "closing_receipt_id",
    ]
    on_time = rows[str(requests["on_time"].pk)]
    considered = requests["on_time"].rules["considered"]
    assert "KH" in considered
    assert on_time == {
        "request_id": str(requests["on_time"].pk),
        "channel": "portal",
        "subject_country": "KH",
        "received_at": "2026-03-10T06:00:00Z",
        "verified_at": "2026-03-11T06:00:00Z",
        "deadline": "2026-03-20T00:00:00Z",
        "closed_at": "2026-03-13T18:00:00Z",
        "state": "completed",
        "days_taken": "3.5",
        "met_deadline": "yes",
        "jurisdictions_considered": " ".join(sorted(considered)),
        "targets": "2",
        "closing_receipt_id": str(requests["receipt"]),
    }
    late = rows[str(requests["late"].pk)]
    assert (late["days_taken"], late["met_deadline"], late["targets"]) == ("48.0", "no", "0")
    still_open = rows[str(requests["open"].pk)]
    assert (still_open["days_taken"], still_open["met_deadline"], still_open["closed_at"]) == (
        "",
        "open",
        "",
    )
    assert still_open["deadline"]  # set at verification, from the jurisdictions
    denied = rows[str(requests["denied"].pk)]
    assert (denied["state"], denied["days_taken"], denied["met_deadline"]) == (
        "denied",
        "1.5",
        "n/a",
    )
    assert denied["jurisdictions_considered"] == ""  # never verified: no rules were applied


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"received_from": "2026-04-01", "received_to": "2026-04-30"}, {"late", "open"}),
        ({"received_to": "2026-03-10"}, {"on_time"}),  # the last day is included
        ({"received_from": "2026-05-05"}, {"denied"}),
        ({"country": "kh"}, {"on_time", "denied"}),
        ({"state": "completed"}, {"on_time", "late"}),
        ({"state": "completed", "country": "VN"}, {"late"}),
        ({"received_from": "2026-04-01", "state": "verified"}, {"open"}),
        ({}, {"on_time", "late", "open", "denied"}),
    ],
)
def test_the_request_register_filters(officer, requests, params, expected):
    assert ids(download(officer, REQUESTS_CSV, **params)) == {
        str(requests[name].pk) for name in expected
    }


def test_the_request_register_holds_no_identifier_and_no_key(officer, requests):
    text = raw(officer, REQUESTS_CSV).lower()
    assert text.count("\n") == 5
    for email in requests["emails"]:
        assert email.lower() not in text
    keys = list(RequestSubjectKey.objects.values_list("key", flat=True))
    assert len(keys) == 4
    for key in keys:
        assert key.lower() not in text
    for commit in ErasureRequest.objects.values_list("subject_commit", flat=True):
        assert commit.lower() not in text


@pytest.fixture
def events():
    f.notice()
    emails = [identifiers.email() for _ in range(3)]
    first, second, third = (f.subject(email) for email in emails)
    recorded = {
        "given": f.record(f.event(first, "train_ai_system", at=at("2026-03-10T10:00:00"))),
        "withdrawn": f.record(
            f.event(first, "train_ai_system", "withdrawn", at=at("2026-04-05T10:00:00"))
        ),
        "marketing": f.record(
            f.event(
                second,
                "marketing",
                at=at("2026-04-06T23:30:00"),
                jurisdiction="VN",
                legal_basis="legitimate_interests",
            )
        ),
        "refused": f.record(
            f.event(third, "marketing", "refused", at=at("2026-05-01T00:00:00"), jurisdiction="TH")
        ),
    }
    return {name: result.events[0] for name, result in recorded.items()} | {"emails": emails}


def event_ids(rows) -> set[str]:
    return {row["event_id"] for row in rows}


def test_the_consent_register_has_every_column(officer, events):
    rows = {row["event_id"]: row for row in download(officer, CONSENT_CSV)}
    marketing = ConsentEvent.objects.select_related("notice").get(id=events["marketing"].id)
    assert rows[str(marketing.id)] == {
        "event_id": str(marketing.id),
        "subject_id": str(marketing.subject_id),
        "purpose": "marketing",
        "status": "given",
        "legal_basis": "legitimate_interests",
        "jurisdiction": "VN",
        "notice_key": "privacy",
        "notice_version": "1",
        "notice_language": "en",
        "method": "api",
        "event_time": "2026-04-06T23:30:00Z",
        "recorded_at": rows[str(marketing.id)]["recorded_at"],
        "receipt_id": str(marketing.receipt_id),
    }
    assert marketing.receipt_id is not None
    assert datetime.fromisoformat(rows[str(marketing.id)]["recorded_at"]) == marketing.recorded_at


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event_from": "2026-04-01", "event_to": "2026-04-06"}, {"withdrawn", "marketing"}),
        ({"event_to": "2026-04-05"}, {"given", "withdrawn"}),
        ({"jurisdiction": "KH"}, {"given", "withdrawn"}),
        ({"purpose": "marketing"}, {"marketing", "refused"}),
        ({"status": "withdrawn"}, {"withdrawn"}),
        ({"purpose": "marketing", "jurisdiction": "th", "status": "refused"}, {"refused"}),
        ({}, {"given", "withdrawn", "marketing", "refused"}),
    ],
)
def test_the_consent_register_filters(officer, events, params, expected):
    assert event_ids(download(officer, CONSENT_CSV, **params)) == {
        str(events[name].id) for name in expected
    }


def test_the_consent_register_holds_no_identifier_and_no_key(officer, events):
    text = raw(officer, CONSENT_CSV).lower()
    for email in events["emails"]:
        assert email.lower() not in text
    keys = list(SubjectIdentifier.objects.values_list("key", flat=True))
    assert len(keys) == 3
    for key in keys:
        assert key.lower() not in text


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (REQUESTS_CSV, {"received_from": "yesterday"}),
        (REQUESTS_CSV, {"received_from": "2026-05-01", "received_to": "2026-04-01"}),
        (REQUESTS_CSV, {"country": "Cambodia"}),
        (REQUESTS_CSV, {"state": "erased"}),
        (CONSENT_CSV, {"purpose": "no.such.purpose"}),
        (CONSENT_CSV, {"status": "maybe"}),
    ],
)
def test_bad_filters_get_a_400_and_no_csv(officer, url, params):
    response = officer.get(url, params)
    assert response.status_code == 400
    assert not response.streaming
    assert "errorlist" in response.content.decode()


def test_only_staff_who_may_view_may_download(client, requests, events):
    user = User.objects.create_user("no-view", is_staff=True)
    client.force_login(user)
    assert client.get(REQUESTS_CSV).status_code == 403
    assert client.get(CONSENT_CSV).status_code == 403
    assert client.get("/admin/registers/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_consentevent"))
    user = User.objects.get(pk=user.pk)  # permissions are cached on the instance
    client.force_login(user)
    assert client.get(CONSENT_CSV).status_code == 200
    assert client.get(REQUESTS_CSV).status_code == 403
    page = client.get("/admin/registers/").content.decode()
    assert "Consent register" in page and "Erasure request register" not in page


def test_the_page_offers_both_registers_to_an_auditor(client):
    auditor = User.objects.create_user("auditor-registers", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    client.force_login(auditor)
    html = client.get("/admin/registers/").content.decode()
    assert 'action="/admin/registers/erasure-requests.csv"' in html
    assert 'action="/admin/registers/consent.csv"' in html
    assert html.count('value="Download CSV"') == 2


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(REQUESTS_CSV)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_cells_a_spreadsheet_would_run_are_kept_as_text():
    response = csv_stream(
        header=["a", "b"], rows=[["=1+1", "ok"], ["@SUM(A1)", "-3"]], filename="x.csv"
    )
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == ["a,b", "'=1+1,ok", "'@SUM(A1),'-3"]
    assert response["Cache-Control"] == "private, no-store"


def test_a_page_setting_that_names_nothing_stops_the_admin_urls(settings):
    from django.contrib import admin
    from django.core.exceptions import ImproperlyConfigured

    settings.LUP_ADMIN_URLS = ["erasure.no_such_module.admin_urls"]
    with pytest.raises(ImproperlyConfigured, match="LUP_ADMIN_URLS"):
        admin.site.get_urls()

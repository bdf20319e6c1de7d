"""The compliance dashboard on the admin index: each count right, and each a link to the
changelist that lists exactly what was counted."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone

from erasure.admin.filters import DeadlineFilter
from erasure.models import AffectedModel, ErasureRequest, Target, TargetRun
from erasure.services import erasure_request_create
from ledger.services import checkpoint_create
from lineage import services as lineage
from tests import identifiers
from tests.consent import factories as f
from tests.ledger.factories import issue

pytestmark = pytest.mark.django_db

# Noon, so "due today" has hours on either side whatever time the suite runs.
NOW = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("erasure.selectors.clock", lambda: NOW)


@pytest.fixture(autouse=True)
def deadline_filter_installed(monkeypatch):
    """The deadline filter on the request changelist (ErasureRequestAdmin.list_filter), as it is
    to be wired there."""
    from django.contrib import admin

    model_admin = admin.site.get_model_admin(ErasureRequest)
    if DeadlineFilter not in model_admin.list_filter:
        monkeypatch.setattr(model_admin, "list_filter", (*model_admin.list_filter, DeadlineFilter))


@pytest.fixture
def staff(client):
    def login(role: str = "compliance_officer"):
        user = User.objects.create_user(f"{role}-dash", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


def filed(state: str, deadline=None) -> ErasureRequest:
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": identifiers.email()}],
        country="KH",
        channel="admin",
        actor="staff:test",
    )
    ErasureRequest.objects.filter(pk=request.pk).update(state=state, deadline=deadline)
    return ErasureRequest.objects.get(pk=request.pk)


@pytest.fixture
def seeded():
    requests = {
        "overdue": filed("executing", NOW - timedelta(days=2)),
        "overdue_this_morning": filed("verified", NOW - timedelta(hours=1)),
        "today": filed("verified", NOW + timedelta(hours=3)),
        "week": filed("planned", NOW + timedelta(days=3)),
        "next_week": filed("planned", NOW + timedelta(days=8)),
        "approval": filed("awaiting_approval", NOW + timedelta(days=20)),
        "unverified": filed("received"),
        # Closed: late, but no longer anyone's to-do.
        "closed_late": filed("completed", NOW - timedelta(days=5)),
    }
    crm = Target.objects.create(name="crm", kind="manual", country="SG")
    logs = Target.objects.create(name="logs", kind="manual", country="SG")
    failed = TargetRun.objects.create(
        request=requests["overdue"], target=crm, status="failed", last_error="timeout"
    )
    TargetRun.objects.create(request=requests["overdue"], target=logs, status="done")
    pending = AffectedModel.objects.create(
        request=requests["approval"],
        model_version=lineage.model_version_register(namespace="m", name="chat", version="1"),
    )
    AffectedModel.objects.create(
        request=requests["approval"],
        model_version=lineage.model_version_register(namespace="m", name="chat", version="2"),
        decision="retrain",
        decided_by="staff:test",
        decided_at=NOW,
    )
    f.notice()
    withdrawn = f.record(f.event(f.subject(), "marketing", "withdrawn")).events[0]
    f.record(f.event(f.subject(), "marketing", "given"))
    return requests, failed, pending, withdrawn


def tiles(response) -> dict[str, tuple[int, str, str]]:
    return {
        tile.label: (tile.count, tile.url, tile.css_class)
        for section in response.context["dashboard"].sections
        for tile in section.tiles
    }


def listed(client, url: str) -> set:
    response = client.get(url)
    assert response.status_code == 200, url
    assert urlsplit(response.request["PATH_INFO"]).path == urlsplit(url).path
    assert "e=1" not in response.request.get("QUERY_STRING", "")  # no rejected lookup
    return {obj.pk for obj in response.context["cl"].queryset}


def test_each_count_is_right_and_its_link_lists_exactly_those(staff, seeded):
    requests, failed, pending, withdrawn = seeded
    client = staff()
    response = client.get("/admin/")
    assert response.status_code == 200
    found = tiles(response)
    expected = {
        "Received": {requests["unverified"].pk},
        "Verifying": set(),
        "Verified": {requests["overdue_this_morning"].pk, requests["today"].pk},
        "Planned": {requests["week"].pk, requests["next_week"].pk},
        "Awaiting Approval": {requests["approval"].pk},
        "Executing": {requests["overdue"].pk},
        "Due today": {requests["today"].pk},
        "Due this week": {requests["today"].pk, requests["week"].pk},
        "Overdue": {requests["overdue"].pk, requests["overdue_this_morning"].pk},
        "Awaiting approval": {requests["approval"].pk},
        "Failed target runs": {failed.pk},
        "Affected models awaiting a decision": {pending.pk},
        "Consent withdrawals in the last 7 days": {withdrawn.id},
    }
    assert set(found) == set(expected)
    for label, pks in expected.items():
        count, url, _ = found[label]
        assert count == len(pks), label
        assert listed(client, url) == pks, label


def test_overdue_is_marked_and_the_site_keeps_its_names(staff, seeded):
    response = staff().get("/admin/")
    assert tiles(response)["Overdue"][2] == "overdue"
    html = response.content.decode()
    assert '<li class="overdue">' in html
    assert "Lup compliance" in html and "<title>Consent, lineage and erasure | Lup</title>" in html
    assert 'id="content-main"' in html  # Django's app list is still there, below


def test_withdrawals_older_than_a_week_are_not_counted(staff, seeded, monkeypatch):
    monkeypatch.setattr("erasure.selectors.clock", lambda: timezone.now() + timedelta(days=8))
    client = staff()
    count, url, _ = tiles(client.get("/admin/"))["Consent withdrawals in the last 7 days"]
    assert count == 0
    assert listed(client, url) == set()


def test_the_last_ledger_audit_appears_after_the_command_runs(staff):
    client = staff("auditor")
    before = client.get("/admin/")
    assert before.context["dashboard"].audit is None
    assert "never run" in before.content.decode()
    issue(3)
    checkpoint = checkpoint_create()
    call_command("ledger_audit")
    after = client.get("/admin/")
    dashboard = after.context["dashboard"]
    assert dashboard.checkpoint.size == checkpoint.size == 3
    assert dashboard.audit.ok and dashboard.audit.leaves == 3
    html = after.content.decode()
    assert "size 3" in html and "passed" in html and "never run" not in html


def test_staff_without_view_rights_see_no_counts(client):
    user = User.objects.create_user("no-rights", is_staff=True)
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert dashboard.sections == [] and not dashboard.show_ledger
    assert dashboard.registers_url == ""


def test_the_registers_page_is_linked(staff):
    client = staff("auditor")
    url = client.get("/admin/").context["dashboard"].registers_url
    assert url == "/admin/registers/"
    assert client.get(url).status_code == 200


def test_without_a_dashboard_setting_the_index_is_djangos(staff, settings):
    settings.LUP_ADMIN_DASHBOARD = ""
    response = staff().get("/admin/")
    assert response.status_code == 200
    assert response.context["dashboard"] is None
    assert 'id="lup-dashboard"' not in response.content.decode()


def test_a_dashboard_setting_that_names_nothing_fails_the_startup_check(settings):
    from django.core.checks import run_checks

    settings.LUP_ADMIN_DASHBOARD = "erasure.no_such_module.dashboard"
    assert [e.id for e in run_checks() if e.id.startswith("lup.E04")] == ["lup.E040"]
    settings.LUP_ADMIN_DASHBOARD = "reports.dashboard.dashboard"
    assert [e.id for e in run_checks() if e.id.startswith("lup.E04")] == []

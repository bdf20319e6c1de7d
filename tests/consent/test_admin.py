"""Compliance staff's admin pages for the consent registry."""

import pytest
from django.contrib.auth.models import Group, User

from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    def login(role: str):
        user = User.objects.create_user(f"{role}-user", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def recorded():
    f.notice()
    email = identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system"))
    f.record(f.event(f.subject(identifiers.email()), "marketing"))
    return email


@pytest.mark.parametrize(
    "page",
    ["subject", "purpose", "notice", "consentevent", "consentstate"],
)
def test_each_page_opens_for_an_auditor(staff, recorded, page):
    response = staff("auditor").get(f"/admin/consent/{page}/")
    assert response.status_code == 200


def test_search_by_raw_identifier_finds_the_subject_without_storing_it(staff, recorded):
    client = staff("compliance_officer")
    response = client.get("/admin/consent/consentevent/", {"q": recorded.upper()})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert response.context["cl"].result_list[0].purpose.key == "train_ai_system"
    miss = client.get("/admin/consent/consentevent/", {"q": identifiers.email()})
    assert miss.context["cl"].result_count == 0
    assert recorded.lower().encode() not in response.content


def test_events_are_read_only_even_for_compliance_officers(staff, recorded):
    from consent.models import ConsentEvent

    event = ConsentEvent.objects.first()
    client = staff("compliance_officer")
    assert client.get("/admin/consent/consentevent/add/").status_code == 403
    response = client.post(f"/admin/consent/consentevent/{event.id}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert ConsentEvent.objects.filter(id=event.id).exists()


def test_an_auditor_cannot_add_a_notice(staff):
    assert staff("auditor").get("/admin/consent/notice/add/").status_code == 403
    assert staff("compliance_officer").get("/admin/consent/notice/add/").status_code == 200

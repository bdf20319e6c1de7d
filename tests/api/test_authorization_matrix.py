"""Who may call what: every endpoint outside the admin and the subject pages, and the admin's
own pages (actions on requests, registers, receipts), against each kind of caller.

The tables below are the expected answer, cell by cell. Endpoints come from the URL resolver,
so a new one fails here until it has a row. "Allowed" means the caller got past
authentication and permissions: anything but 401 or 403 (an empty body may well get a 400 or
a 404). "Denied" means exactly 401 or 403 for the API (the admin sends a caller without a staff
session to its login page instead) and nothing in the database changed.
"""

import re
import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import LocalePrefixPattern

from access.models import StaffAction
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER, ROLE_SCOPES
from access.services import api_token_create
from core import subject_keys
from erasure.models import AffectedModel, ErasureRequest, Target
from erasure.services import erasure_request_create
from lineage.models import DatasetVersion
from lineage.services import VersionInput, dataset_version_register
from tests import identifiers
from tests.api.test_schema_fuzz import schema

pytestmark = pytest.mark.django_db

# Callers. Staff roles call the API with a token holding their role's scopes, and the admin
# with a session of a staff user in their group. The subject holds the portal's session after
# a verified code: it may use the portal's pages and its own bundle and receipts, nothing else.
ANONYMOUS = "anonymous"
SUBJECT = "subject"
CALLERS = (ANONYMOUS, SUBJECT, AUDITOR, ENGINEER, COMPLIANCE_OFFICER)

EVERYONE = frozenset(CALLERS)
NOBODY: frozenset[str] = frozenset()
STAFF = frozenset({AUDITOR, ENGINEER, COMPLIANCE_OFFICER})  # each holds every `:read` scope
LINEAGE_WRITERS = frozenset({ENGINEER, COMPLIANCE_OFFICER})
OFFICERS = frozenset({COMPLIANCE_OFFICER})

API: dict[tuple[str, str], frozenset[str]] = {
    # Public: probes, the schema and its docs, the rules (public law), the log's endpoints (it
    # holds hashes and exists to be checked by outsiders), a subject's bundle behind the signed
    # link they were sent, and webhook callbacks, which check the target's signature instead.
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/api/schema/"): EVERYONE,
    ("GET", "/api/docs/"): EVERYONE,
    ("GET", "/api/v1/jurisdictions"): EVERYONE,
    ("GET", "/api/v1/jurisdictions/effective"): EVERYONE,
    ("GET", "/api/v1/ledger/checkpoint"): EVERYONE,
    ("GET", "/api/v1/ledger/key"): EVERYONE,
    ("GET", "/api/v1/ledger/keys"): EVERYONE,
    ("GET", "/api/v1/ledger/proof/inclusion"): EVERYONE,
    ("GET", "/api/v1/ledger/proof/consistency"): EVERYONE,
    ("GET", "/api/v1/ledger/leaves"): EVERYONE,
    ("GET", "/api/v1/bundles/{token}"): EVERYONE,
    ("POST", "/api/v1/erasure/callbacks/{run_id}"): EVERYONE,
    # Its own credential (LUP_METRICS_TOKEN or an allowed network), which no caller here has.
    ("GET", "/metrics"): NOBODY,
    # Consent
    ("POST", "/api/v1/consent/events"): OFFICERS,
    ("POST", "/api/v1/consent/events/import"): OFFICERS,
    ("POST", "/api/v1/consent/check"): STAFF,
    ("POST", "/api/v1/consent/filter"): STAFF,
    ("GET", "/api/v1/consent/purposes"): STAFF,
    ("POST", "/api/v1/consent/purposes"): OFFICERS,
    ("GET", "/api/v1/consent/notices"): STAFF,
    ("POST", "/api/v1/consent/notices"): OFFICERS,
    ("POST", "/api/v1/consent/subjects/resolve"): STAFF,
    ("POST", "/api/v1/consent/subjects/link"): OFFICERS,
    ("GET", "/api/v1/consent/subjects/{key}"): STAFF,
    ("GET", "/api/v1/consent/subjects/{key}/history"): STAFF,
    # Ledger receipts
    ("GET", "/api/v1/receipts/{receipt_id}"): STAFF,
    # Lineage: engineers write it too
    ("GET", "/api/v1/lineage"): STAFF,
    ("POST", "/api/v1/lineage"): LINEAGE_WRITERS,
    ("GET", "/api/v1/lineage/prov"): STAFF,
    ("GET", "/api/v1/column-lineage"): STAFF,
    ("GET", "/api/v1/lineage/picture.svg"): STAFF,
    ("GET", "/api/v1/lineage/transfers"): STAFF,
    ("POST", "/api/v1/lineage/datasets"): LINEAGE_WRITERS,
    ("POST", "/api/v1/lineage/versions"): LINEAGE_WRITERS,
    ("POST", "/api/v1/lineage/manifests"): LINEAGE_WRITERS,
    ("GET", "/api/v1/lineage/datasets/{path}/versions"): STAFF,
    ("GET", "/api/v1/lineage/versions/{version_id}"): STAFF,
    ("POST", "/api/v1/lineage/versions/{version_id}/locations"): LINEAGE_WRITERS,
    ("POST", "/api/v1/lineage/versions/{version_id}/members"): LINEAGE_WRITERS,
    ("GET", "/api/v1/lineage/versions/{version_id}/purpose-check"): STAFF,
    ("POST", "/api/v1/lineage/models"): LINEAGE_WRITERS,
    ("POST", "/api/v1/lineage/subjects/locate"): STAFF,
    ("GET", "/api/v1/lineage/croissant"): STAFF,
    ("POST", "/api/v1/lineage/croissant/import"): LINEAGE_WRITERS,
    # Erasure: everyone on staff reads; only officers write, targets included (`erasure:write`
    # also decides on requests, so engineers register targets in the admin).
    ("GET", "/api/v1/erasure-requests"): STAFF,
    ("POST", "/api/v1/erasure-requests"): OFFICERS,
    ("GET", "/api/v1/erasure-requests/{request_id}"): STAFF,
    ("POST", "/api/v1/erasure-requests/{request_id}/verification"): OFFICERS,
    ("POST", "/api/v1/erasure-requests/{request_id}/verification/confirm"): OFFICERS,
    ("POST", "/api/v1/erasure-requests/{request_id}/verified-manually"): OFFICERS,
    ("GET", "/api/v1/erasure-requests/{request_id}/plan"): STAFF,
    ("POST", "/api/v1/erasure-requests/{request_id}/plan"): OFFICERS,
    ("POST", "/api/v1/erasure-requests/{request_id}/approve"): OFFICERS,
    ("POST", "/api/v1/erasure-requests/{request_id}/deny"): OFFICERS,
    ("POST", "/api/v1/erasure-requests/{request_id}/model-decisions"): OFFICERS,
    ("GET", "/api/v1/erasure-requests/{request_id}/bundle"): STAFF,
    ("GET", "/api/v1/erasure/targets"): STAFF,
    ("POST", "/api/v1/erasure/targets"): OFFICERS,
    ("GET", "/api/v1/erasure/targets/{target_id}"): STAFF,
    ("PUT", "/api/v1/erasure/targets/{target_id}"): OFFICERS,
    ("DELETE", "/api/v1/erasure/targets/{target_id}"): OFFICERS,
    ("POST", "/api/v1/erasure/targets/{target_id}/approve"): OFFICERS,
    ("POST", "/api/v1/erasure/targets/{target_id}/retire"): OFFICERS,
    ("GET", "/api/v1/erasure/targets/{target_id}/index"): STAFF,
    ("POST", "/api/v1/erasure/targets/{target_id}/index"): OFFICERS,
    ("GET", "/api/v1/erasure/legal-holds"): STAFF,
    ("POST", "/api/v1/erasure/legal-holds"): OFFICERS,
    # The readiness report: evidence for clients and regulators, read by every staff role.
    ("GET", "/api/v1/reports/readiness"): STAFF,
    ("GET", "/api/v1/reports/readiness/signed"): STAFF,
    ("GET", "/api/v1/reports/readiness/aiverify"): STAFF,
    ("GET", "/api/v1/reports/readiness/aiverify/signed"): STAFF,
    ("GET", "/api/v1/reports/readiness/frameworks/{framework}"): STAFF,
}

# The admin's pages beyond Django's own, by URL name, and two of Django's for comparison.
ADMIN: dict[tuple[str, str], frozenset[str]] = {
    # Decisions about a person's data: officers only.
    ("POST", "erasure_erasurerequest_approve"): OFFICERS,
    ("POST", "erasure_erasurerequest_deny"): OFFICERS,
    ("POST", "erasure_erasurerequest_legal_hold"): OFFICERS,
    ("POST", "erasure_erasurerequest_model_decision"): OFFICERS,
    ("POST", "erasure_erasurerequest_retry_failed"): OFFICERS,
    # Reading: every role.
    ("GET", "erasure_erasurerequest_receipt"): STAFF,
    ("POST", "erasure_erasurerequest_receipt_verify"): STAFF,
    ("GET", "erasure_erasurerequest_plan_entry"): STAFF,
    ("GET", "jurisdictions_rules"): STAFF,
    ("GET", "registers"): STAFF,
    ("GET", "registers_requests_csv"): STAFF,
    ("GET", "registers_consent_csv"): STAFF,
    ("GET", "readiness"): STAFF,
    ("GET", "readiness_print"): STAFF,
    ("GET", "readiness_signed"): STAFF,
    ("GET", "readiness_aiverify"): STAFF,
    ("GET", "readiness_aiverify_signed"): STAFF,
    ("GET", "readiness_framework"): STAFF,
    ("GET", "erasure_erasurerequest_change"): STAFF,
    # Targets: officers and engineers change them, auditors only look.
    ("POST", "erasure_target_change"): frozenset({COMPLIANCE_OFFICER, ENGINEER}),
    # Retiring ends a target's part in every later erasure, and approving one starts it:
    # officers only.
    ("POST", "erasure_target_retire"): OFFICERS,
    ("POST", "erasure_target_approve"): OFFICERS,
}
DJANGO_ADMIN_VIEWS = {"erasure_erasurerequest_change", "erasure_target_change"}

LUP_APPS = {"access", "consent", "erasure", "jurisdictions", "ledger", "lineage"}


# --- what there is to call ------------------------------------------------------------------


def _methods(callback) -> list[str]:
    view = getattr(callback, "view_class", None)
    if view is None:  # a function view (the probes, /metrics): read with GET
        return ["GET"]
    return [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]


def served_endpoints() -> set[tuple[str, str]]:
    """(method, path) of every URL outside the admin and the subject pages, from the resolver,
    with path parameters written as the OpenAPI schema writes them."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if isinstance(pattern.pattern, LocalePrefixPattern) or pattern.app_name == "admin":
                    continue
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(pattern.pattern))
                found.update((method, path) for method in _methods(pattern.callback))

    walk(get_resolver().url_patterns, "")
    return found


def custom_admin_views() -> set[str]:
    """URL names of the admin pages Lup adds to Django's: the site's and its models'."""
    site = admin.site
    names = _names(site.get_urls()) - _names(admin.AdminSite.get_urls(site))
    for model, model_admin in site._registry.items():
        if model._meta.app_label in LUP_APPS:
            names |= _names(model_admin.get_urls()) - _names(admin.ModelAdmin.get_urls(model_admin))
    return names


def _names(patterns) -> set[str]:
    return {p.name for p in patterns if isinstance(p, URLPattern)}


def test_every_endpoint_has_a_row_and_every_row_an_endpoint():
    assert set(API) == served_endpoints()


def test_the_schema_documents_every_api_endpoint():
    """So the schema fuzzing (test_schema_fuzz) reaches every operation too."""
    documented = {
        (method.upper(), path)
        for path, operations in schema.raw_schema["paths"].items()
        for method in operations
    }
    assert documented == {(m, p) for m, p in served_endpoints() if p.startswith("/api/v1/")}


def test_every_page_the_admin_adds_has_a_row():
    assert {name for _, name in ADMIN} - DJANGO_ADMIN_VIEWS == custom_admin_views()


# --- the callers and the objects they ask for -----------------------------------------------


@pytest.fixture
def world(settings, tmp_path):
    """One object of each kind the paths name."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    email = identifiers.email()
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="KH",
        channel="api",
        actor="test",
    )
    target = Target.objects.create(
        name="eval-set",
        kind="jsonl_file",
        country="KH",
        config={"path": "eval.jsonl", "match": {"email": "email"}},
    )
    version = dataset_version_register(
        namespace="s3://ml-data", name="chats", data=VersionInput(version="1")
    )
    return {
        "request_id": request.pk,
        "object_id": request.pk,
        "target_id": target.pk,
        "version_id": version.pk,
        "path": "s3://ml-data/chats",  # a dataset's <namespace>/<name>
        "receipt_id": uuid.uuid4(),
        "run_id": 2**31 - 1,
        "token": "no-such-link",
        "entry_id": 1,
        "key": subject_keys.key_for("email", email),
        "framework": "asean",
        "slug": "asean",
    }


def subject_session() -> Client:
    """A browser that asked for a code on the portal and typed it in."""
    client = Client()
    confirm = client.post("/en/consents/", {"id_type": "email", "value": identifiers.email()})
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    assert client.post(confirm["Location"], {"code": code})["Location"] == "/en/consents/mine/"
    assert client.get("/en/consents/mine/").status_code == 200  # the subject's own page
    return client


@pytest.fixture
def api_callers() -> dict[str, Client]:
    callers = {ANONYMOUS: Client(), SUBJECT: subject_session()}
    for role in (AUDITOR, ENGINEER, COMPLIANCE_OFFICER):
        _, text = api_token_create(name=role, scopes=ROLE_SCOPES[role])
        callers[role] = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    return callers


@pytest.fixture
def admin_callers(django_user_model) -> dict[str, Client]:
    callers = {ANONYMOUS: Client(), SUBJECT: subject_session()}
    for role in (AUDITOR, ENGINEER, COMPLIANCE_OFFICER):
        user = django_user_model.objects.create_user(f"{role}-staff", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        callers[role] = Client()
        callers[role].force_login(user)
    return callers


def fingerprint() -> tuple:
    """The rows of every table of Lup's apps and the state of what requests change. The staff
    audit is left out: it records refused admin requests too, by design."""
    counts = [
        (model._meta.label, model.objects.count())
        for model in apps.get_models()
        if model._meta.app_label in LUP_APPS and model is not StaffAction
    ]
    return (
        *counts,
        tuple(ErasureRequest.objects.order_by("pk").values_list("pk", "state")),
        tuple(Target.objects.order_by("pk").values_list("pk", "name", "updated_at")),
        tuple(AffectedModel.objects.order_by("pk").values_list("pk", "decision")),
        tuple(DatasetVersion.objects.order_by("pk").values_list("pk", "membership_declared")),
    )


def _try(client: Client, method: str, url: str, denied: bool):
    before = fingerprint() if denied else None
    response = client.generic(method, url, b"", content_type="application/json")
    changed = denied and fingerprint() != before
    return response, changed


# --- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), sorted(served_endpoints()))
def test_api(method, path, world, api_callers):
    allowed = API.get((method, path))
    assert allowed is not None, f"{method} {path} has no row in API: who may call it?"
    url = re.sub(r"{(\w+)}", lambda m: str(world[m.group(1)]), path)
    wrong = []
    for caller in CALLERS:  # officers last: what they may do can change what is there
        denied = caller not in allowed
        response, changed = _try(api_callers[caller], method, url, denied)
        refused = response.status_code in (401, 403)
        if denied != refused or changed:
            wrong.append(f"{caller} got {response.status_code}{' and changed data' * changed}")
        elif refused and path.startswith("/api/"):
            # No credential: 401; a token without the scope: 403. Each with its stable code.
            expected = (
                (401, "not_authenticated")
                if caller in (ANONYMOUS, SUBJECT)
                else (403, "insufficient_scope")
            )
            if (response.status_code, response.json()["code"]) != expected:
                wrong.append(f"{caller} got {response.status_code} {response.json()['code']}")
    assert not wrong, f"{method} {path}, allowed to {sorted(allowed)}: " + "; ".join(wrong)


@pytest.mark.parametrize(("method", "name"), sorted(ADMIN))
def test_admin(method, name, world, admin_callers):
    kwargs = {part: world[part] for part in re.findall(r"<(?:\w+:)?(\w+)>", _route(name))}
    if name.startswith("erasure_target_"):
        kwargs["object_id"] = world["target_id"]
    url = reverse(f"admin:{name}", kwargs=kwargs)
    wrong = []
    for caller in CALLERS:
        denied = caller not in ADMIN[(method, name)]
        response, changed = _try(admin_callers[caller], method, url, denied)
        to_login = response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
        refused = response.status_code == 403 or (caller in (ANONYMOUS, SUBJECT) and to_login)
        if denied != refused or changed:
            wrong.append(f"{caller} got {response.status_code}{' and changed data' * changed}")
    assert not wrong, (
        f"{method} admin:{name}, allowed to {sorted(ADMIN[(method, name)])}: " + "; ".join(wrong)
    )


def _route(name: str) -> str:
    site = admin.site
    patterns = list(site.get_urls())
    for model_admin in site._registry.values():
        patterns += model_admin.get_urls()
    return next(str(p.pattern) for p in patterns if isinstance(p, URLPattern) and p.name == name)

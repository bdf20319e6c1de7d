"""The readiness report in the frameworks' terms, on the seeded deployment of test_readiness
(a dataset version stored nowhere on record, a cross-border copy without a basis, an overdue
request, a model deployed to Cambodia without Khmer evaluations): the answers are "No" exactly
where those gaps are, naming them, and "Yes" once they are fixed; the AI Verify file passes the
plugin's import rules, its signed form verifies with `python -m ledger.verify report`, and no
identifier of a subject appears in any of it."""

import base64
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from erasure.models import ErasureRequest, Target
from ledger import verify
from ledger.keys import signer
from ledger.models import AuditRun
from lineage import services as lineage
from lineage.models import DatasetVersion
from lineage.services import LocationInput
from reports.frameworks import aiverify_import, framework_answers, framework_get
from reports.frameworks.answers import NO, NOT_APPLICABLE, YES
from reports.frameworks.catalog import AIVERIFY_PRINCIPLES, catalog
from tests import identifiers
from tests.consent import factories
from tests.reports import test_readiness as readiness

pytestmark = pytest.mark.django_db
seeded = readiness.seeded  # the fixture, shared with the readiness report's tests
API = "/api/v1/reports/readiness"
ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("aiverify", "asean", "model-ai-gov", "genai")
PID = re.compile(r"^\d+(\.\d+)+$")


def answers(slug: str) -> dict[str, str]:
    """Each answered item of a framework by id: "Yes" or "No"."""
    report = readiness.report_now()
    found = framework_answers(report=report, framework=framework_get(slug=slug))
    return {item["id"]: item["answer"] for item in found["answers"]}


def gaps_named(slug: str, item_id: str) -> list[tuple[str, str | None]]:
    found = framework_answers(report=readiness.report_now(), framework=framework_get(slug=slug))
    (item,) = [a for a in found["answers"] if a["id"] == item_id]
    return sorted(
        (gap["code"], gap["record"]["label"] if gap["record"] else None)
        for finding in item["conditions"]
        for gap in finding["gaps"]
    )


def fix(seeded) -> None:
    """What the team does about the gaps the report named (as test_readiness does)."""
    lineage.location_add(
        version=seeded.unplaced,
        location=LocationInput(system="s3", uri="s3://lup-kh/notes", country="KH"),
    )
    seeded.eval_vi.locations.filter(country="SG").update(transfer_basis="asean-mcc")
    eval_km = readiness._version(
        "s3://eval",
        "support-km",
        "1",
        purposes=[readiness.EVAL_PURPOSE],
        languages=["km"],
        origin="written by staff",
        locations=[LocationInput(system="s3", uri="s3://lup-kh/eval", country="KH")],
    )
    readiness._members(eval_km, [seeded.emails[2]])
    Target.objects.get(name="eval-set").versions.add(eval_km)
    lineage.model_version_register(
        namespace="models", name="assistant", version="7", evaluated_on=[eval_km]
    )
    ErasureRequest.objects.filter(pk=seeded.overdue.pk).update(
        deadline=timezone.now() + timedelta(days=5)
    )


def resting_on(slug: str, condition: str) -> set[str]:
    return {item.id for item in framework_get(slug=slug).items if condition in item.evidence}


def test_answers_are_no_exactly_where_the_seeded_gaps_are(seeded):
    assert answers("aiverify") == {"3.3.1": NO, "3.10.1": NO, "8.2.1": NO, "8.3.1": NO}
    # The version stored nowhere is named, with its admin link, under the provenance checks.
    unplaced = str(seeded.unplaced)
    for pid in ("3.3.1", "3.10.1", "8.2.1"):
        assert gaps_named("aiverify", pid) == [("no_location", unplaced)]
    named = gaps_named("aiverify", "8.3.1")
    assert ("request_overdue", str(seeded.overdue)) in named
    assert ("transfer_without_basis", "s3://eval:support-vi @ 1 (SG)") in named
    assert {code for code, _ in named} == {
        "request_overdue",
        "transfer_without_basis",
        "rule_unconfirmed",
    }
    assert answers("asean") == {
        "transparency-explainability.data": NO,  # no_location
        "transparency-explainability.erasure": YES,
        "fairness-equity.languages": NO,  # eval_language_gap
        "human-centricity.deletion": NO,  # request_overdue
        "human-centricity.consent": YES,
        "privacy-data-governance.records": NO,  # no_location
        "privacy-data-governance.transfers": NO,  # transfer_without_basis
        "privacy-data-governance.erasure": YES,
        "privacy-data-governance.rules": NO,  # rule_unconfirmed: KH and VN data has some
        "accountability-integrity.decisions": YES,
        "accountability-integrity.receipts": YES,
    }
    assert gaps_named("asean", "fairness-equity.languages") == [
        ("eval_language_gap", str(seeded.model))
    ]


def test_answers_turn_yes_once_the_gaps_are_fixed(seeded):
    fix(seeded)
    assert answers("aiverify") == {"3.3.1": YES, "3.10.1": YES, "8.2.1": YES, "8.3.1": NO}
    # What still stands is the unconfirmed rules of the served markets, and only that.
    assert {code for code, _ in gaps_named("aiverify", "8.3.1")} == {"rule_unconfirmed"}
    for slug in ("asean", "model-ai-gov", "genai"):
        still_no = resting_on(slug, "rules_known")
        assert {i for i, a in answers(slug).items() if a == NO} == still_no, slug


def _withdraw_consent(seeded) -> None:
    subject = factories.subject(seeded.emails[1])
    factories.record(factories.event(subject, readiness.PURPOSE, "withdrawn", jurisdiction="VN"))


def _make_overdue(seeded) -> None:
    ErasureRequest.objects.filter(pk=seeded.overdue.pk).update(
        deadline=timezone.now() - timedelta(days=1)
    )


def _no_cache_target(seeded) -> None:
    Target.objects.filter(kind="redis").update(kind="manual")


def _drop_purposes(seeded) -> None:
    DatasetVersion.objects.filter(pk=seeded.unplaced.pk).update(purposes=[])


def _failed_audit(seeded) -> None:
    now = timezone.now()
    AuditRun.objects.create(started_at=now, finished_at=now, ok=False, problems=1)


@pytest.mark.parametrize(
    ("condition", "break_it"),
    [
        ("consent_covers_use", _withdraw_consent),
        ("erasure_on_time", _make_overdue),
        ("erasure_reaches_everywhere", _no_cache_target),
        ("purpose_declared", _drop_purposes),
        ("ledger_audited", _failed_audit),
    ],
)
def test_one_gap_flips_exactly_the_items_resting_on_it_and_back(seeded, condition, break_it):
    fix(seeded)
    before = {slug: answers(slug) for slug in FRAMEWORKS}
    break_it(seeded)
    after = {slug: answers(slug) for slug in FRAMEWORKS}
    for slug in FRAMEWORKS:
        flipped = {i for i in before[slug] if before[slug][i] != after[slug][i]}
        expected = {i for i in resting_on(slug, condition) if before[slug][i] == YES}
        assert flipped == expected, (slug, condition)
        assert all(after[slug][i] == NO for i in resting_on(slug, condition))
    assert any(resting_on(slug, condition) for slug in FRAMEWORKS)


def test_nothing_on_record_is_not_a_yes(seeded, api):
    """A day with no completed deletion: "why each place was erased" cannot be shown."""
    body = api("erasure:read").get(
        f"{API}/frameworks/asean", {"start": "2000-01-01", "end": "2000-01-01"}
    )
    assert body.status_code == 200
    erasure = "transparency-explainability.erasure"
    (item,) = [a for a in body.json()["answers"] if a["id"] == erasure]
    assert item["answer"] == NO
    (finding,) = item["conditions"]
    assert finding["nothing_on_record"] and not finding["gaps"]
    assert "nothing on record" in item["elaboration"]
    assert "start=2000-01-01&end=2000-01-01" in item["links"]["admin"]


def importable(document: dict) -> list[str]:
    """The plugin's import rules (importUtils.js), as problems: sheet names exactly its
    principle names, pids like 8.2.1, `completed` one of its three values."""
    problems = []
    if not isinstance(document.get("sheets"), list):
        return ["no sheets list"]
    names = [sheet.get("name") for sheet in document["sheets"]]
    if len(set(names)) != len(names):
        problems.append("a sheet twice")
    for sheet in document["sheets"]:
        if sheet.get("name") not in AIVERIFY_PRINCIPLES:
            problems.append(f"sheet {sheet.get('name')!r}")
            continue
        if not isinstance(sheet.get("summaryJustification"), str):
            problems.append(f"{sheet['name']}: summaryJustification")
        number = AIVERIFY_PRINCIPLES.index(sheet["name"]) + 1
        for row in sheet.get("rows", []):
            if set(row) != {"pid", "completed", "elaboration"}:
                problems.append(f"{sheet['name']}: fields {sorted(row)}")
            if not (isinstance(row.get("pid"), str) and PID.match(row["pid"])):
                problems.append(f"pid {row.get('pid')!r}")
            elif int(row["pid"].split(".")[0]) != number:
                problems.append(f"pid {row['pid']} under {sheet['name']}")
            if row.get("completed") not in (YES, NO, NOT_APPLICABLE):
                problems.append(f"{row.get('pid')}: completed {row.get('completed')!r}")
            if not isinstance(row.get("elaboration"), str) or not row["elaboration"]:
                problems.append(f"{row.get('pid')}: elaboration")
    return problems


def test_the_aiverify_file_passes_the_plugins_import_rules_and_leaves_out_the_operators(
    seeded, api, settings
):
    document = api("erasure:read").get(f"{API}/aiverify").json()
    assert importable(document) == []
    rows = {row["pid"]: row for sheet in document["sheets"] for row in sheet["rows"]}
    operator = {i.id for i in framework_get(slug="aiverify").items if i.operator}
    assert set(rows) == {"3.3.1", "3.10.1", "8.2.1", "8.3.1"} and not set(rows) & operator
    assert [sheet["name"] for sheet in document["sheets"]] == ["Reproducibility", "Data Governance"]
    # The elaboration gives the figures and the records: the gap's admin page and the section.
    elaboration = rows["8.2.1"]["elaboration"]
    assert elaboration.startswith("No, on Lup's records for ")
    assert "versions with location: 3" in elaboration
    # Read inside AI Verify, away from Lup: the links carry the public address.
    public = settings.LUP_PUBLIC_URL
    assert f"{public}/admin/lineage/datasetversion/{seeded.unplaced.pk}/change/" in elaboration
    assert f"{public}/admin/readiness/?start=" in elaboration and "#section-data" in elaboration
    summary = document["sheets"][1]["summaryJustification"]
    assert "2 of this principle's 4 checks" in summary and "0 Yes, 2 No" in summary


def test_the_problem_checker_catches_what_the_plugin_would_refuse():
    """So the structural test above can fail."""
    good = {"name": "Data Governance", "summaryJustification": "", "rows": []}
    row = {"pid": "8.2.1", "completed": "Yes", "elaboration": "x"}
    assert importable({"sheets": [{**good, "rows": [row]}]}) == []
    assert importable({"sheets": [{**good, "name": "Data governance"}]})
    assert importable({"sheets": [{**good, "rows": [{**row, "pid": "8.2"}]}]}) == []
    assert importable({"sheets": [{**good, "rows": [{**row, "pid": "8"}]}]})
    assert importable({"sheets": [{**good, "rows": [{**row, "pid": "3.3.1"}]}]})
    assert importable({"sheets": [{**good, "rows": [{**row, "completed": "N/A"}]}]})


def test_the_api_takes_the_reports_period_refuses_an_unknown_framework_and_needs_a_token(
    seeded, api
):
    client = api("erasure:read")
    refused = client.get(f"{API}/aiverify", {"start": "2026-05-01", "end": "2026-04-01"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_period"
    unknown = client.get(f"{API}/frameworks/nist-rmf")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_framework")
    assert Client().get(f"{API}/frameworks/asean").status_code == 401
    assert api("lineage:read").get(f"{API}/aiverify").status_code == 403
    for slug in FRAMEWORKS:
        body = client.get(f"{API}/frameworks/{slug}").json()
        items = framework_get(slug=slug).items
        assert len(body["answers"]) + len(body["operators_to_answer"]) == len(items)
        assert body["summary"]["operators_to_answer"] == len(body["operators_to_answer"])
        assert body["sources"] and body["framework"] == slug


def _verify_cli(path: Path) -> subprocess.CompletedProcess:
    key = signer().verifier_key
    return subprocess.run(
        [sys.executable, "-m", "ledger.verify", "report", str(path), "--key", key],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_signed_aiverify_file_verifies_and_an_edit_fails(seeded, api, tmp_path):
    envelope = api("erasure:read").get(f"{API}/aiverify/signed").json()
    good = tmp_path / "aiverify.signed.json"
    good.write_text(json.dumps(envelope))
    done = _verify_cli(good)
    assert done.returncode == 0, done.stderr
    assert "signature and canonical form verified" in done.stdout
    assert "Markets: KH, VN" in done.stdout

    # The payload's report is itself the import file, with the answers the API gives.
    payload = json.loads(base64.b64decode(envelope["payload"]))
    assert payload["type"] == "report" and payload["report"]["format"] == "lup-aiverify/1"
    assert importable(payload["report"]) == []
    assert payload["report"]["sheets"] == aiverify_import(report=readiness.report_now())["sheets"]

    # "No" edited to "Yes": the signature no longer holds.
    signed = base64.b64decode(envelope["payload"])
    at = signed.index(b'"completed":"No"')
    edited = signed[:at] + b'"completed":"Yes"' + signed[at + len(b'"completed":"No"') :]
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps({**envelope, "payload": base64.b64encode(edited).decode()}))
    refused = _verify_cli(bad)
    assert refused.returncode == 1 and "envelope.signature" in refused.stdout + refused.stderr


def _staff_client(django_user_model) -> Client:
    user = django_user_model.objects.create_user("auditor-fw", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    client = Client()
    client.force_login(user)
    return client


def test_no_subject_identifier_appears_in_any_export(seeded, api, django_user_model):
    client = api("erasure:read")
    parts = [client.get(f"{API}/aiverify").content.decode()]
    signed = client.get(f"{API}/aiverify/signed").json()
    parts.append(base64.b64decode(signed["payload"]).decode())
    parts += [client.get(f"{API}/frameworks/{slug}").content.decode() for slug in FRAMEWORKS]
    staff = _staff_client(django_user_model)
    parts += [
        staff.get(f"/admin/readiness/frameworks/{slug}/").content.decode() for slug in FRAMEWORKS
    ]
    parts.append(staff.get("/admin/readiness/aiverify.json").content.decode())
    document = "\n".join(parts)
    assert not [form for form in identifiers.all_forms() if form in document]
    keys = {factories.subject(email).key for email in seeded.emails}
    assert not [key for key in keys if key in document]


def test_the_admin_pages_render_the_answers_and_the_operators_items_apart(
    seeded, django_user_model
):
    client = _staff_client(django_user_model)
    page = client.get("/admin/readiness/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="aiverify-link" href="/admin/readiness/aiverify.json"' in html
    assert 'href="/admin/readiness/frameworks/asean/"' in html

    for slug in FRAMEWORKS:
        framework = framework_get(slug=slug)
        shown = client.get(f"/admin/readiness/frameworks/{slug}/")
        assert shown.status_code == 200, slug
        html = shown.content.decode()
        assert "Operator's to answer" in html
        for item in framework.items:
            kind = "operator" if item.operator else "item"
            assert f'id="{kind}-{item.id}"' in html, (slug, item.id)
    asean = client.get("/admin/readiness/frameworks/asean/").content.decode()
    assert 'id="item-privacy-data-governance.records" data-answer="No"' in asean
    assert f'href="/admin/lineage/datasetversion/{seeded.unplaced.pk}/change/"' in asean

    download = client.get("/admin/readiness/aiverify.json")
    assert download["Content-Disposition"].startswith("attachment;")
    assert importable(download.json()) == []
    signed = client.get("/admin/readiness/aiverify.signed.json").json()
    key = verify.parse_verifier_key(signer().verifier_key)
    assert verify.verify_document(signed, key, "report")["report"]["framework"] == "aiverify"
    assert client.get("/admin/readiness/frameworks/nist-rmf/").status_code == 404
    assert client.get("/admin/readiness/frameworks/asean/", {"start": "x"}).status_code == 400


def test_every_condition_and_operator_item_is_used_and_every_figure_is_in_the_report(seeded):
    report = readiness.report_now()
    data = catalog()
    used = {key for f in data.frameworks.values() for item in f.items for key in item.evidence}
    assert used == set(data.conditions)
    from reports.frameworks.evidence import MISSING, figure

    for condition in data.conditions.values():
        figures = report["sections"][condition.section]["figures"]
        for path in (*condition.figures, *filter(None, [condition.requires])):
            assert figure(figures, path) is not MISSING, (condition.key, path)

"""The governance readiness report on a seeded deployment with known gaps: a dataset version
stored nowhere on record, a cross-border copy without a transfer basis, an overdue request and a
model deployed to Cambodia without Khmer evaluations. The report names exactly those gaps, its
figures match the records, its signed form verifies and fails after a one-byte edit, and it
holds no personal data."""

import base64
import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from connectors import CONNECTORS
from erasure.gate import affected_model_decide, erasure_request_approve, erasure_request_gate
from erasure.models import ErasureRequest, Target
from erasure.planning import erasure_request_plan
from erasure.runs import target_run_execute
from erasure.services import erasure_request_create, erasure_request_transition
from jurisdictions.composer import effective_rules
from ledger import verify
from ledger.keys import signer
from ledger.services import log_audit_run
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.models import DatasetVersion, ModelVersion
from lineage.services import LocationInput, VersionInput
from reports.readiness import Period, readiness_report, readiness_report_signed
from reports.readiness.deletion import KIND_CATEGORY, percentile
from targets.services import target_save
from tests import identifiers
from tests.api.documented import documented_errors
from tests.consent import factories

pytestmark = pytest.mark.django_db
PURPOSE = "train_ai_system"
EVAL_PURPOSE = "train_ai_system.evaluation"
API = "/api/v1/reports/readiness"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Seeded:
    emails: list[str]
    train: DatasetVersion
    eval_vi: DatasetVersion
    unplaced: DatasetVersion
    model: ModelVersion
    completed: ErasureRequest
    overdue: ErasureRequest


def _version(namespace, name, version, **fields) -> DatasetVersion:
    return lineage.version_register(
        dataset=lineage.dataset_register(namespace=namespace, name=name),
        data=VersionInput(version=version, **fields),
    )


def _members(version: DatasetVersion, emails: list[str]) -> None:
    membership_upload(
        version=version,
        stream=io.BytesIO("\n".join(emails).encode()),
        content_type="text/plain",
        id_type="email",
    )


@pytest.fixture
def seeded(settings, tmp_path, enqueued, django_capture_on_commit_callbacks) -> Seeded:
    settings.LUP_MARKETS = ["KH", "VN"]
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    emails = [identifiers.email() for _ in range(3)]
    factories.notice()
    factories.record(
        factories.event(factories.subject(emails[0]), PURPOSE, jurisdiction="KH"),
        factories.event(factories.subject(emails[1]), PURPOSE, jurisdiction="VN"),
        factories.event(factories.subject(emails[2]), PURPOSE, jurisdiction="KH"),
    )
    vn = LocationInput(system="s3", uri="s3://lup-vn/raw", country="VN")
    raw = _version(
        "s3://raw", "chats", "1", purposes=[PURPOSE], origin="support chats, 2026", locations=[vn]
    )
    train = _version(
        "s3://train",
        "chats-clean",
        "2",
        purposes=[PURPOSE],
        locations=[
            LocationInput(
                system="s3",
                uri="s3://lup-kh/train",
                country="KH",
                transfer_basis="contract-clauses",
            )
        ],
    )
    lineage.run_record(
        run_id=uuid.uuid4(),
        job=lineage.job_register(namespace="j", name="clean"),
        state="COMPLETE",
        inputs=[raw],
        outputs=[train],
    )
    eval_vi = _version(
        "s3://eval",
        "support-vi",
        "1",
        purposes=[EVAL_PURPOSE],
        languages=["vi"],
        origin="written by staff",
        locations=[LocationInput(system="s3", uri="s3://lup-vn/eval", country="VN")],
    )
    # A copy kept in Singapore with no basis recorded: the cross-border gap.
    lineage.location_add(
        version=eval_vi, location=LocationInput(system="s3", uri="s3://lup-sg/eval", country="SG")
    )
    # Stored nowhere on record: the data gap.
    unplaced = _version(
        "s3://notes", "labelling-notes", "1", purposes=[PURPOSE], origin="annotators"
    )
    _members(raw, emails[:2])
    _members(train, emails[:2])
    _members(eval_vi, [emails[0], emails[2]])
    # Deployed to both markets, evaluated in Vietnamese only: the evaluation gap (no Khmer).
    model = lineage.model_version_register(
        namespace="models",
        name="assistant",
        version="7",
        trained_on=[train],
        evaluated_on=[eval_vi],
        markets=["KH", "VN"],
    )

    for name, version in (("train", train), ("eval", eval_vi)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"email": e.lower()}) + "\n" for e in emails)
        )
        target_save(
            name=f"{name}-set",
            kind="jsonl_file",
            country=version.locations.first().country,
            versions=[version.pk],
            config={"path": f"{name}.jsonl", "match": {"email": "email"}},
        )
    # One target for each other kind of place the checklist names.
    Target.objects.create(name="app-log", kind="text_log", country="KH", config={})
    Target.objects.create(name="answer-cache", kind="redis", country="KH", config={})
    Target.objects.create(name="accounts", kind="postgres_table", country="KH", config={})

    def filed(email: str, country: str) -> ErasureRequest:
        request, _ = erasure_request_create(
            identifiers=[{"id_type": "email", "value": email}],
            country=country,
            channel="admin",
            actor="staff:intake",
        )
        return erasure_request_transition(
            request=request, to_state="verified", actor="staff:intake", reason="checked"
        )

    completed = erasure_request_plan(request=filed(emails[0], "KH"), actor="system")
    completed = erasure_request_gate(request=completed, actor="system")
    assert completed.state == "awaiting_approval"  # a model was trained on the subject's data
    affected_model_decide(
        request=completed,
        model_version_id=model.pk,
        decision="retrain",
        justification="next release",
        actor="staff:dpo",
    )
    with django_capture_on_commit_callbacks(execute=True):
        erasure_request_approve(request=completed, actor="staff:dpo", reason="checked")
    for run_id in enqueued:
        with django_capture_on_commit_callbacks(execute=True):
            target_run_execute(run_id=run_id)
    completed.refresh_from_db()
    assert completed.state == "completed"
    # Three days from receipt to completion, well within the deadline.
    ErasureRequest.objects.filter(pk=completed.pk).update(
        received_at=completed.closed_at - timedelta(days=3)
    )

    overdue = filed(emails[1], "VN")
    ErasureRequest.objects.filter(pk=overdue.pk).update(deadline=timezone.now() - timedelta(days=1))
    log_audit_run()
    return Seeded(
        emails=emails,
        train=train,
        eval_vi=eval_vi,
        unplaced=unplaced,
        model=model,
        completed=ErasureRequest.objects.get(pk=completed.pk),
        overdue=ErasureRequest.objects.get(pk=overdue.pk),
    )


def report_now() -> dict:
    now = timezone.now()
    return readiness_report(period=Period.of_dates(start=None, end=None, now=now), now=now)


def gaps(report: dict) -> dict[str, list[tuple[str, str | None]]]:
    return {
        name: sorted(
            (gap["code"], gap["record"]["id"] if gap["record"] else None)
            for gap in section["missing"]
        )
        for name, section in report["sections"].items()
    }


def test_the_report_names_exactly_the_seeded_gaps(seeded):
    report = report_now()
    unconfirmed = sorted(
        name
        for name, rule in effective_rules(markets=["KH", "VN"], subject_country=None)[
            "rules"
        ].items()
        if rule["unconfirmed"]
    )
    assert unconfirmed, "the rules data has unconfirmed rules for KH and VN"
    assert gaps(report) == {
        "data": [("no_location", str(seeded.unplaced.pk))],
        "deletion": [("request_overdue", str(seeded.overdue.pk))],
        "cross_border": [("transfer_without_basis", str(seeded.eval_vi.pk))],
        "evaluations": [("eval_language_gap", str(seeded.model.pk))],
        "oversight": [],
        "explainability": [],
        "strictest_market": [("rule_unconfirmed", None)] * len(unconfirmed),
    }
    strictest = report["sections"]["strictest_market"]
    assert strictest["figures"]["unconfirmed"] == unconfirmed
    assert report["gaps"] == {name: len(found) for name, found in gaps(report).items()}
    transfer_gap = report["sections"]["cross_border"]["missing"][0]
    assert transfer_gap["record"]["admin_url"] == (
        f"/admin/lineage/datasetversion/{seeded.eval_vi.pk}/change/"
    )
    evaluation_gap = report["sections"]["evaluations"]["missing"][0]
    assert "KH" in evaluation_gap["detail"] and "km" in evaluation_gap["detail"]
    assert evaluation_gap["record"]["admin_url"] == (
        f"/admin/lineage/modelversion/{seeded.model.pk}/change/"
    )


def test_the_figures_match_the_records(seeded):
    report = report_now()
    data = report["sections"]["data"]["figures"]
    assert data["versions"] == 4
    assert data["versions_with_provenance"] == 4  # two by origin, one by run, one by origin
    assert data["versions_with_location"] == 3
    assert data["training_or_eval_versions"] == 2
    assert data["membership_index_share"] == 1.0
    # Subjects 0 and 1 are in the training set, 0 and 2 in the eval set, and all three
    # consented to training, which covers its evaluation sub-purpose too. Subject 0 asked to be
    # erased (which withdrew their consent) and is counted apart.
    consent = data["consent"]
    assert (consent["subjects"], consent["share"], consent["erased_subjects_apart"]) == (2, 1.0, 1)
    assert consent["by_purpose"] == {
        PURPOSE: {"subjects": 1, "covered": 1, "share": 1.0},
        EVAL_PURPOSE: {"subjects": 1, "covered": 1, "share": 1.0},
    }
    assert consent["by_jurisdiction"] == {
        "KH": {"subjects": 1, "covered": 1, "share": 1.0},
        "VN": {"subjects": 1, "covered": 1, "share": 1.0},
    }

    deletion = report["sections"]["deletion"]["figures"]
    assert (
        deletion["received"],
        deletion["completed"],
        deletion["completed_within_deadline"],
        deletion["overdue"],
        deletion["open"],
    ) == (2, 1, 1, 1, 1)
    assert deletion["days_to_complete"] == {
        "KH": {"requests": 1, "median": 3.0, "p95": 3.0},
        "all": {"requests": 1, "median": 3.0, "p95": 3.0},
    }
    assert deletion["targets"] == {
        "by_hand": 0,
        "caches": 1,
        "databases": 1,
        "eval_sets": 1,
        "files": 2,
        "logs": 1,
        "services": 0,
    }
    assert deletion["latest_ledger_audit"]["ok"] is True
    assert deletion["receipts_issued"]["erasure.target"] == 2  # the training and eval sets
    assert deletion["receipts_issued"]["erasure.request"] == 1
    assert deletion["receipts_issued"]["consent"] == 4  # three given, one withdrawn by erasure

    flows = report["sections"]["cross_border"]["records"]
    assert [flow["basis_recorded"] for flow in flows] == [False, True]  # the gap first
    assert {(f["from"]["country"], f["to"]["country"]) for f in flows} == {
        ("VN", "SG"),
        ("VN", "KH"),
    }
    assert flows[0]["rule"]["country"] == "VN"

    model = report["sections"]["evaluations"]["records"][0]
    assert model["by_market"] == {
        "KH": {"languages": ["km"], "missing": ["km"]},
        "VN": {"languages": ["vi"], "missing": []},
    }

    oversight = report["sections"]["oversight"]["figures"]
    assert (oversight["approved"], oversight["denied"]) == (1, 0)
    assert oversight["model_decisions"]["retrain"] == 1
    approvals = [r for r in report["sections"]["oversight"]["records"] if "decision" in r]
    assert approvals == [
        {**approvals[0], "id": str(seeded.completed.pk), "decision": "approved", "by": "staff:dpo"}
    ]

    explained = report["sections"]["explainability"]
    assert explained["figures"] == {"completed": 1, "sampled": 1, "explained": 1}
    plan = explained["records"][0]["plan"]
    assert [entry["target"] for entry in plan] == ["eval-set", "train-set"]
    assert [entry["paths"] for entry in plan] == [
        [["s3://eval:support-vi @ 1"]],
        [["s3://train:chats-clean @ 2"]],
    ]
    assert all(entry["reasons"] for entry in plan)


def test_gaps_close_when_the_records_are_completed(seeded, settings):
    """The same deployment after the team fixes what the report named."""
    lineage.location_add(
        version=seeded.unplaced,
        location=LocationInput(system="s3", uri="s3://lup-kh/notes", country="KH"),
    )
    seeded.eval_vi.locations.filter(country="SG").update(transfer_basis="asean-mcc")
    eval_km = _version(
        "s3://eval",
        "support-km",
        "1",
        purposes=[EVAL_PURPOSE],
        languages=["km"],
        origin="written by staff",
        locations=[LocationInput(system="s3", uri="s3://lup-kh/eval", country="KH")],
    )
    _members(eval_km, [seeded.emails[2]])
    Target.objects.get(name="eval-set").versions.add(eval_km)
    lineage.model_version_register(
        namespace="models", name="assistant", version="7", evaluated_on=[eval_km]
    )
    ErasureRequest.objects.filter(pk=seeded.overdue.pk).update(
        deadline=timezone.now() + timedelta(days=5)
    )
    report = report_now()
    assert {name: codes for name, codes in gaps(report).items() if name != "strictest_market"} == {
        name: [] for name in report["sections"] if name != "strictest_market"
    }


def test_a_version_used_for_a_purpose_its_subjects_did_not_consent_to_is_named(seeded):
    factories.record(
        factories.event(
            factories.subject(seeded.emails[1]), PURPOSE, "withdrawn", jurisdiction="VN"
        )
    )
    data = report_now()["sections"]["data"]
    assert [(g["code"], g["record"]["id"]) for g in data["missing"]] == [
        ("no_location", str(seeded.unplaced.pk)),
        ("purpose_without_consent", str(seeded.train.pk)),
    ]
    assert "1 of its subjects" in data["missing"][1]["detail"]
    consent = data["figures"]["consent"]
    assert consent["by_jurisdiction"]["VN"] == {"subjects": 1, "covered": 0, "share": 0.0}
    assert consent["by_purpose"][PURPOSE] == {"subjects": 1, "covered": 0, "share": 0.0}
    assert consent["share"] == 0.5


def test_the_signed_report_verifies_and_a_one_byte_edit_fails(seeded, tmp_path):
    report = report_now()
    envelope = readiness_report_signed(report=report)
    key = verify.parse_verifier_key(signer().verifier_key)
    payload = verify.verify_document(envelope, key, "report")
    assert payload["report"] == json.loads(json.dumps(report))
    assert payload["type"] == "report" and payload["issuer"] == signer().name

    signed = base64.b64decode(envelope["payload"])
    at = signed.index(b'"received":2') + len(b'"received":')
    edited = signed[:at] + b"3" + signed[at + 1 :]
    forged = {**envelope, "payload": base64.b64encode(edited).decode()}
    with pytest.raises(verify.VerificationError) as failed:
        verify.verify_document(forged, key, "report")
    assert failed.value.check == "envelope.signature"

    # The command line a client runs, on the file the admin and the API hand out.
    good, bad = tmp_path / "report.json", tmp_path / "edited.json"
    good.write_text(json.dumps(envelope))
    bad.write_text(json.dumps(forged))
    assert verify.main(["report", str(good), "--key", signer().verifier_key]) == 0
    assert verify.main(["report", str(bad), "--key", signer().verifier_key]) == 1


def test_the_report_holds_no_personal_data(seeded, api):
    client = api("erasure:read")
    body = client.get(API).content.decode()
    signed = client.get(f"{API}/signed").json()
    document = body + base64.b64decode(signed["payload"]).decode()
    forms = identifiers.all_forms()
    assert not [form for form in forms if form in document]
    keys = {factories.subject(email).key for email in seeded.emails}
    assert not [key for key in keys if key in document]


def test_the_answer_is_what_the_api_documents(seeded, api):
    body = api("erasure:read").get(API).json()
    assert documented_errors("/api/v1/reports/readiness", "get", 200, body) == []
    body["sections"]["data"]["records"] = [{"label": 7}]
    assert documented_errors("/api/v1/reports/readiness", "get", 200, body) != []


def test_every_connector_kind_has_a_place_in_the_deletion_figures():
    assert set(CONNECTORS) == set(KIND_CATEGORY)


def test_percentiles_are_nearest_rank():
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
    assert percentile([float(n) for n in range(1, 101)], 0.5) == 50.0


def test_the_api_refuses_a_bad_period_and_needs_a_token(seeded, api):
    client = api("erasure:read")
    refused = client.get(API, {"start": "2026-05-01", "end": "2026-04-01"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_period"
    assert client.get(API, {"start": "not-a-day"}).status_code == 400
    assert Client().get(API).status_code == 401
    assert api("lineage:read").get(API).status_code == 403
    one_day = client.get(API, {"start": "2000-01-01", "end": "2000-01-01"}).json()
    assert one_day["sections"]["deletion"]["figures"]["received"] == 0


def test_the_admin_page_shows_each_section_its_gaps_and_links(seeded, django_user_model):
    user = django_user_model.objects.create_user("auditor-1", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    client = Client()
    client.force_login(user)
    page = client.get("/admin/readiness/")
    assert page.status_code == 200
    html = page.content.decode()
    for section in (
        "data",
        "deletion",
        "cross_border",
        "evaluations",
        "oversight",
        "explainability",
        "strictest_market",
    ):
        assert f'id="section-{section}"' in html
    assert f'href="/admin/lineage/datasetversion/{seeded.unplaced.pk}/change/"' in html
    assert f'href="/admin/erasure/erasurerequest/{seeded.overdue.pk}/change/"' in html
    assert 'data-code="eval_language_gap"' in html
    printable = client.get("/admin/readiness/print")
    assert printable.status_code == 200 and b"<h1>Governance readiness</h1>" in printable.content
    signed = client.get("/admin/readiness/signed.json")
    key = verify.parse_verifier_key(signer().verifier_key)
    assert verify.verify_document(signed.json(), key, "report")["report"]["markets"] == ["KH", "VN"]
    assert client.get("/admin/readiness/", {"start": "2026-13-01"}).status_code == 400


def _market_languages(value: str) -> subprocess.CompletedProcess:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.LUP_MARKET_LANGUAGES))"
    )
    env = {**os.environ, "LUP_MARKET_LANGUAGES": value, "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_market_languages_are_overridden_market_by_market_and_a_bad_one_stops_startup():
    done = _market_languages("PH=fil,en; sg=en,zh")
    assert done.returncode == 0, done.stderr
    languages = json.loads(done.stdout)
    assert (languages["PH"], languages["SG"], languages["KH"]) == (
        ["fil", "en"],
        ["en", "zh"],
        ["km"],
    )
    refused = _market_languages("PH")
    assert refused.returncode != 0
    assert "LUP_MARKET_LANGUAGES: 'PH' is not MARKET=language" in refused.stderr


def test_a_long_report_lists_a_bounded_sample_and_counts_the_rest(seeded, settings):
    """Thousands of datasets make a report of a few records per section: the gap figures still
    count every gap, each kind of gap keeps an example (a framework answer is decided on their
    codes), and `omitted` says how many were left out."""
    for n in range(6):
        _version("s3://bulk", f"shard-{n}", "v1")  # no origin, location or purpose: three gaps
    full = report_now()
    settings.LUP_READINESS_MAX_RECORDS = 2
    bounded = report_now()
    assert bounded["gaps"] == full["gaps"]
    data, whole = bounded["sections"]["data"], full["sections"]["data"]
    assert len(data["records"]) == 2
    assert data["omitted"]["records"] == len(whole["records"]) - 2
    codes = {gap["code"] for gap in whole["missing"]}
    assert {gap["code"] for gap in data["missing"]} == codes
    assert len(data["missing"]) == max(2, len(codes))
    assert data["omitted"]["missing"] == len(whole["missing"]) - len(data["missing"])
    assert whole["omitted"] == {"records": 0, "missing": 0}

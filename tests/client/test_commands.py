"""The `lup` command's other operations, as a script sees them: what it prints, and exit codes
(0 done, 1 refused with the API's code, 2 usage, 3 unreachable)."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from erasure.models import Target
from lineage.models import DatasetVersion, Membership
from lup.client import ApiError, Lup, Unreachable
from tests import identifiers

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "lineage" / "examples" / "manifest.yaml"


def test_a_membership_upload_from_a_parquet_column_counts_every_subject(lup, run, tmp_path):
    version = lup.version_register(namespace="s3://evals", name="khmer-qa", version="3")
    rows = 1_000_000
    # One address in nine appears twice; the version holds each subject once.
    emails = [f"member{i % 900_000}@example.org" for i in range(rows)]
    path = tmp_path / "members.parquet"
    pq.write_table(pa.table({"id": range(rows), "email": emails}), path, row_group_size=16_384)

    done = run(
        "members", "upload", version["id"], str(path), "--column", "email", "--id-type",
        "email", "--progress", "--json",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()[-2000:]
    answer = json.loads(done.stdout)
    assert answer == {"version_id": version["id"], "members": 900_000, "membership_declared": True}
    assert Membership.objects.filter(version_id=version["id"]).count() == 900_000
    assert "100%" in done.stderr.decode()  # the progress bar, on standard error
    assert "member1@" not in (done.stdout + done.stderr).decode()


def test_a_manifest_registers_once_and_its_lineage_shows(run):
    first = run("datasets", "register", str(MANIFEST), "--json")
    assert first.returncode == 0, first.stderr.decode()
    added = json.loads(first.stdout)["added"]
    assert added["datasets"] > 0 and added["versions"] > 0 and added["models"] > 0
    assert DatasetVersion.objects.count() == added["versions"]

    again = run("versions", "register", str(MANIFEST))
    assert again.returncode == 0
    assert "registered; added 0 datasets, 0 versions" in again.stdout.decode()

    shown = run("lineage", "show", "dataset:s3://sea-chat-raw-sg:chat-logs", "--depth", "2")
    assert shown.returncode == 0, shown.stderr.decode()
    assert "dataset:s3://sea-chat-raw-sg:chat-logs" in shown.stdout.decode()


def test_a_bad_manifest_is_refused_naming_the_entry_and_registers_nothing(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "datasets:\n  - namespace: s3://x\n    name: y\n    versions:\n"
        "      - version: '1'\n        locations:\n          - {system: s3, uri: s3://x/y,"
        " country: ZZ}\n"
    )
    done = run("datasets", "register", str(bad))
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert stderr.startswith("lup: invalid_manifest:")
    assert "datasets[0].versions[0].locations[0].country" in stderr
    assert DatasetVersion.objects.count() == 0


def test_targets_register_list_and_retire(run, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    target = tmp_path / "target.json"
    target.write_text(
        json.dumps(
            {
                "name": "eval-set",
                "kind": "jsonl_file",
                "country": "KH",
                "config": {"path": str(tmp_path / "eval.jsonl"), "match": {"email": "email"}},
            }
        )
    )
    (tmp_path / "eval.jsonl").write_text("")
    registered = run("targets", "register", str(target), "--json")
    assert registered.returncode == 0, registered.stderr.decode()
    target_id = json.loads(registered.stdout)["id"]

    listed = run("targets", "list")
    assert "eval-set" in listed.stdout.decode() and "active" in listed.stdout.decode()

    retired = run("targets", "retire", str(target_id), "--reason", "set deleted")
    assert retired.returncode == 0
    assert "retired" in retired.stdout.decode()
    again = run("targets", "retire", str(target_id), "--reason", "twice")
    assert again.returncode == 1
    assert again.stderr.decode().startswith("lup: target_retired:")

    assert run("targets", "check", str(target)).returncode == 0

    # Checked against the kind's schema, fetched from the service, before anything is sent.
    config = {"path": str(tmp_path / "eval.jsonl"), "mach": {"email": "email"}}
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"name": "b", "kind": "jsonl_file", "country": "KH", "config": config})
    )
    for action in ("check", "register"):
        refused = run("targets", action, str(broken))
        assert refused.returncode == 1
        assert "'match' is a required property" in refused.stderr.decode()
        assert "mach" in refused.stderr.decode()
    assert "checked locally, nothing sent" in refused.stderr.decode()
    assert Target.objects.count() == 1

    # What only the server knows (the file is not there) comes back as its 400 and code.
    missing = tmp_path / "missing.json"
    config = {"path": str(tmp_path / "gone.jsonl"), "match": {"email": "email"}}
    missing.write_text(
        json.dumps({"name": "m", "kind": "jsonl_file", "country": "KH", "config": config})
    )
    refused = run("targets", "register", str(missing))
    assert refused.returncode == 1
    assert refused.stderr.decode().startswith("lup: target_unreachable:")


def test_exit_codes(run, live_server, tmp_path):
    assert run("targets", "list", LUP_TOKEN="lup_0000_wrong").returncode == 1
    unknown = run("erasure", "status", "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 1
    assert unknown.stderr.decode().startswith("lup: ")
    assert run("targets", "list", LUP_URL="http://127.0.0.1:9").returncode == 3
    assert run("consent", "filter", "in.csv").returncode == 2  # arguments missing
    missing = run(
        "members", "upload", "00000000-0000-4000-8000-000000000000", str(tmp_path / "none.csv"),
        "--column", "email",
    )  # fmt: skip
    assert missing.returncode == 2
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{live_server.url}"\ntoken = "lup_0000_wrong"\n')
    # The environment wins over the file; without it the file's settings are used.
    assert run("targets", "list", LUP_CONFIG=str(config)).returncode == 0
    assert run("targets", "list", LUP_CONFIG=str(config), LUP_TOKEN="").returncode == 1


def test_an_erasure_filing_retried_with_its_idempotency_key_is_filed_once(lup, run):
    email = identifiers.email()
    first = lup.erasure_file(
        [{"id_type": "email", "value": email}], country="KH", idempotency_key="job-42"
    )
    again = lup.erasure_file(
        [{"id_type": "email", "value": email}], country="KH", idempotency_key="job-42"
    )
    assert again["id"] == first["id"]
    assert [r["id"] for r in lup.erasure_requests()] == [first["id"]]

    status = run("erasure", "status", first["id"], "--json")
    assert json.loads(status.stdout)["state"] == first["state"]
    with pytest.raises(ApiError) as refused:
        lup.erasure_file([{"type": "email", "value": email}])
    assert refused.value.status == 400
    with pytest.raises(Unreachable):
        Lup("http://127.0.0.1:9", "x", retries=1, backoff=0).targets()


def test_a_filing_verified_by_the_caller_needs_its_reason_and_waiting_can_time_out(run):
    email = identifiers.email()
    lonely = run("erasure", "file", "--identifier", f"email:{email}", "--verified", "call")
    assert lonely.returncode == 2
    assert "--reason" in lonely.stderr.decode()

    filed = run("erasure", "file", "--identifier", f"email:{email}", "--country", "KH", "--json")
    assert filed.returncode == 0, filed.stderr.decode()
    request_id = json.loads(filed.stdout)["id"]
    # Filed bare, it waits for the subject's code: `--wait` gives up, exit 1, naming its state.
    waited = run("erasure", "status", request_id, "--wait", "--timeout", "0.3", "--interval", "0.1")
    assert waited.returncode == 1
    assert "still received after 0.3 s" in waited.stderr.decode()
    # Without the erasure:verify scope a verified filing is the API's 403.
    refused = run(
        "erasure", "file", "--identifier", f"email:{email}", "--verified", "call", "--reason",
        "checked", "--plan",
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.decode().startswith("lup: insufficient_scope:")


def test_a_subject_index_is_built_by_scanning_and_followed_to_its_end(lup, run, tmp_path, settings):
    """`lup targets index ID --wait`: membership no one uploaded, made by scanning the target
    (tasks in process, as the embedded deployment runs them)."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    try:
        version = lup.version_register(namespace="file", name="evals/khmer-qa", version="1")
        emails = [f"person{i}@example.org" for i in range(50)]
        lines = [json.dumps({"id": i, "user": {"email": e}}) for i, e in enumerate(emails)]
        (tmp_path / "eval.jsonl").write_text("\n".join(lines * 2) + "\n")
        target = lup.target_register(
            name="eval-set",
            kind="jsonl_file",
            country="KH",
            config={"path": "eval.jsonl", "match": {"email": "user.email"}},
            versions=[version["id"]],
        )

        done = run("targets", "index", str(target["id"]), "--wait", "--json")

        assert done.returncode == 0, done.stderr.decode()[-2000:]
        status = json.loads(done.stdout)
        assert (status["state"], status["records"], status["subjects"]) == ("done", 100, 50)
        assert Membership.objects.filter(version_id=version["id"]).count() == 50
        assert "person1@" not in (done.stdout + done.stderr).decode()
        unknown = run("targets", "index", "999999")
        assert unknown.returncode == 1
        assert unknown.stderr.decode().startswith("lup: unknown_target:")
    finally:
        app.conf.task_always_eager = was

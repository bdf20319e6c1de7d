"""`s3_objects` targets through the erasure request API, against a real SeaweedFS: a versioned
bucket erased by a real worker, its receipt's `history` matching the versions the post-check
read and the bundle verifying offline; and an object lock that ends the run `held` with the
lock as its exception, nothing changed."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from erasure.models import ErasureRequest, TargetRun
from ledger.keys import signer
from ledger.models import Receipt
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_end_to_end import wait_for

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/erasure-requests"
TARGETS = "/api/v1/erasure/targets"


def lines(*emails: str) -> bytes:
    return "".join(json.dumps({"user": {"email": e}}) + "\n" for e in emails).encode()


def register(staff, config: dict) -> None:
    registered = staff.post(
        TARGETS,
        {
            "name": "eval-objects",
            "kind": "s3_objects",
            "country": "SG",
            "always": True,
            "config": config,
        },
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    approve_proposed_targets()


def file_request(staff, email: str) -> str:
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    assert staff.post(f"{URL}/{request_id}/plan").status_code == 201
    return request_id


def target_receipt(run: TargetRun) -> dict:
    return json.loads(bytes(Receipt.objects.get(receipt_id=run.receipt_id).payload))


def test_a_versioned_bucket_is_erased_by_a_worker_with_its_history_checked(
    object_store, celery_workers, api, tmp_path
):
    email, other = identifiers.email(), identifiers.email()
    bucket = object_store.bucket(versioned=True)
    object_store.s3.put_object(Bucket=bucket, Key="qa/part-0.jsonl", Body=lines(email.lower()))
    object_store.s3.put_object(
        Bucket=bucket, Key="qa/part-0.jsonl", Body=lines(other.lower(), email.lower())
    )
    object_store.s3.put_object(Bucket=bucket, Key="qa/part-1.jsonl", Body=lines(other.lower()))
    celery_workers()  # after the credentials are in the environment: the worker inherits them
    staff = api("erasure:write", "erasure:read")
    register(
        staff,
        object_store.config(bucket, prefix="qa/", format="jsonl", match={"email": "user.email"}),
    )

    request_id = file_request(staff, email)
    assert wait_for(lambda: ErasureRequest.objects.get(pk=request_id).state == "completed"), list(
        TargetRun.objects.values("status", "outcome", "last_error")
    )

    versions = object_store.versions(bucket, "qa/")
    for version in versions:
        data = object_store.read(bucket, version["Key"], version["VersionId"])
        assert email.lower().encode() not in data
    assert object_store.read(bucket, "qa/part-0.jsonl") == lines(other.lower())
    receipt = target_receipt(TargetRun.objects.get(request_id=request_id))
    assert receipt["outcome"] == "erased"
    assert receipt["action"] == {
        **receipt["action"],
        "op": "delete",
        "count": "2",
        "method": "s3_jsonl_conditional_rewrite",
    }
    assert receipt["postcheck"]["remaining"] == "0"
    assert receipt["history"] == {"policy": "purged", "versions_checked": str(len(versions))}
    assert email.lower() not in json.dumps(receipt)

    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(staff.get(f"{URL}/{request_id}/bundle").json()))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.verify",
            "bundle",
            str(bundle),
            "--key",
            signer().verifier_key,
            "--identifier",
            email,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def in_process(transactional_db):
    """Tasks run where they are sent (Celery's eager mode, real commits)."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


def test_an_object_lock_ends_the_run_held_with_the_lock_as_its_exception(
    object_store, in_process, api
):
    email = identifiers.email()
    bucket = object_store.bucket(locked=True)
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    object_store.s3.put_object(
        Bucket=bucket,
        Key="qa/part-0.jsonl",
        Body=lines(email.lower()),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    staff = api("erasure:write", "erasure:read")
    register(staff, object_store.config(bucket, format="jsonl", match={"email": "user.email"}))

    request_id = file_request(staff, email)

    run = TargetRun.objects.get(request_id=request_id)
    assert (run.status, run.outcome) == ("done", "held"), run.last_error
    receipt = target_receipt(run)
    assert receipt["exception"] == {
        "basis": "object-lock:governance",
        "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert receipt["action"]["op"] == "none" and receipt["action"]["method"] == "store-lock"
    assert receipt["postcheck"]["remaining"] == "1"  # still there, as the receipt says
    assert object_store.read(bucket, "qa/part-0.jsonl") == lines(email.lower())
    assert ErasureRequest.objects.get(pk=request_id).state == "partially_completed"


def test_masking_is_refused_for_a_format_that_cannot_mask(object_store, db, api):
    staff = api("erasure:write", "erasure:read")
    config = object_store.config(object_store.bucket(), format="jsonl", match={"email": "e"})
    refused = staff.post(
        TARGETS,
        {
            "name": "eval-objects",
            "kind": "s3_objects",
            "country": "SG",
            "operation": "mask",
            "config": config,
        },
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "operation_not_supported"
    assert 'format "csv", "parquet" or "text"' in refused.json()["detail"]

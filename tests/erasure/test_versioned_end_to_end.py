"""End to end, with a real worker, for the stores that keep earlier versions: a Delta table
(purged), a LanceDB table (retained) and a saved Hugging Face dataset with a cache (purged),
registered and erased through the API; each target's receipt carries its `history`."""

import base64
import json
import time

import datasets
import lancedb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from erasure.models import ErasureRequest, TargetRun
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

URL = "/api/v1/erasure-requests"


@pytest.fixture
def world(tmp_path, monkeypatch, settings, transactional_db):
    """The stores on disk, set up before the worker starts (it reads the env)."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def wait_for(predicate, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def stores(root, email: str, other: str) -> None:
    write_deltalake(root / "tickets", pa.table({"email": [email, other], "n": [1, 2]}))
    write_deltalake(root / "tickets", pa.table({"email": [email], "n": [3]}), mode="append")
    vectors = pa.list_(pa.float32(), 2)
    lancedb.connect(str(root / "vectors")).create_table(
        "chunks",
        pa.table(
            {
                "email": [email, other],
                "vector": pa.array([[1.0, 0.0], [0.0, 1.0]], vectors),
            }
        ),
    )
    saved = datasets.Dataset.from_dict({"email": [email, other], "text": ["a", "b"]})
    saved.save_to_disk(root / "qa")
    datasets.load_from_disk(str(root / "qa")).map(lambda row: {"length": len(row["text"])})


def receipts(bundle) -> dict[str, dict]:
    """The target receipts' payloads, by target kind."""
    payloads = [
        json.loads(base64.b64decode(entry["envelope"]["payload"])) for entry in bundle["receipts"]
    ]
    return {p["target"]["kind"]: p for p in payloads if p["type"] == "erasure.target"}


def test_versioned_stores_are_erased_and_their_receipts_say_what_history_was_read(
    world, celery_worker_process, api
):
    email, other = identifiers.email(), identifiers.email()
    stores(world, email.lower(), other.lower())
    staff = api("erasure:write", "erasure:read")
    for name, kind, config in (
        (
            "tickets-lake",
            "delta_table",
            {"path": "tickets", "match": {"email": "email"}, "history": {"policy": "purged"}},
        ),
        (
            "support-chunks",
            "lance_table",
            {
                "path": "vectors",
                "table": "chunks",
                "match": {"email": "email"},
                "vector_column": "vector",
                "history": {"policy": "retained", "retain_days": 14, "legal_basis": "backups"},
            },
        ),
        (
            "qa-dataset",
            "hf_dataset",
            {"path": "qa", "match": {"email": "email"}, "history": {"policy": "purged"}},
        ),
    ):
        body = {"name": name, "kind": kind, "country": "KH", "always": True, "config": config}
        response = staff.post("/api/v1/erasure/targets", body, format="json")
        assert response.status_code == 201, response.content
    approve_proposed_targets()

    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}], "country": "KH"}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    planned = staff.post(f"{URL}/{request_id}/plan").json()
    assert planned["state"] == "executing", planned
    assert wait_for(lambda: ErasureRequest.objects.get(pk=request_id).state == "completed"), list(
        TargetRun.objects.values("status", "outcome", "last_error")
    )

    found = receipts(staff.get(f"{URL}/{request_id}/bundle").json())
    assert {kind: r["outcome"] for kind, r in found.items()} == {
        "delta_table": "erased",
        "lance_table": "erased",
        "hf_dataset": "erased",
    }
    delta, lance, dataset = found["delta_table"], found["lance_table"], found["hf_dataset"]
    assert delta["action"]["count"] == "2" and delta["postcheck"]["remaining"] == "0"
    assert delta["history"]["policy"] == "purged"
    assert "retained_until" not in delta["history"]
    assert int(delta["history"]["versions_checked"]) >= 1
    assert lance["history"]["policy"] == "retained"
    assert lance["history"]["versions_checked"] == "1"
    assert lance["history"]["retained_until"].endswith("Z")
    # The dataset and the one cache file left (the map cache held the subject and was removed).
    assert dataset["history"] == {"policy": "purged", "versions_checked": "1"}
    assert not list((world / "qa").glob("cache-*.arrow"))
    for payload in found.values():
        assert email.lower() not in json.dumps(payload).lower()

    assert [r["email"] for r in DeltaTable(world / "tickets").to_pyarrow_table().to_pylist()] == [
        other.lower()
    ]
    assert datasets.load_from_disk(str(world / "qa"))["email"] == [other.lower()]

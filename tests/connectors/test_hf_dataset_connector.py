"""The `hf_dataset` connector against folders and caches written by the real `datasets` library.
No database."""

import json

import datasets
import pyarrow as pa
import pytest

from connectors import connector_for
from core.errors import ApplicationError
from tests import identifiers

EMAIL, OTHER = "a@example.org", "b@example.org"
identifiers.USED.update({EMAIL, OTHER})
A = {"email": [EMAIL]}
ROWS = {
    "email": [EMAIL, " A@Example.ORG ", OTHER, "c@example.org", OTHER, EMAIL],
    "meta": [{"user_id": str(n), "lang": "km"} for n in range(6)],
    "text": ["សួស្តី", "hello", "xin chào", "สวัสดี", "hi", "ok"],
    "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
}


@pytest.fixture
def roots(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def saved(roots):
    """A dataset in three shards; A's rows are in the first and the last."""
    datasets.Dataset.from_dict(ROWS).save_to_disk(roots / "qa", num_shards=3)
    return roots / "qa"


def target(**config):
    return connector_for("hf_dataset", {"path": "qa", "match": {"email": "email"}, **config})


def loaded_emails(path) -> list:
    return sorted(datasets.load_from_disk(str(path))["email"])


def test_delete_rewrites_the_shards_holding_the_subject_and_renews_the_fingerprint(saved):
    state = json.loads((saved / "state.json").read_text())
    middle = (saved / "data-00001-of-00003.arrow").read_bytes()
    assert target().locate(A).count == 3
    erased = target().erase(A)
    assert (erased.op, erased.method, erased.count) == ("delete", "hf_shard_rewrite", 3)
    assert loaded_emails(saved) == sorted(["c@example.org", OTHER, OTHER])
    renewed = json.loads((saved / "state.json").read_text())
    assert renewed["_fingerprint"] != state["_fingerprint"]
    assert renewed["_data_files"] == state["_data_files"]
    # A shard without the subject is left as it was.
    assert (saved / "data-00001-of-00003.arrow").read_bytes() == middle
    assert not list(saved.glob(".*tmp"))
    checked = target().verify(A)
    assert (checked.method, checked.remaining) == ("hf_load_from_disk", 0)
    # The history is the cache: none here besides the dataset, retained by default.
    assert (checked.history.policy, checked.history.versions_checked) == ("retained", 1)


def test_masking_keeps_rows_and_the_features(saved):
    connector = target(mask_columns=["email", "score"], mask_value="[gone]")
    assert connector.erase(A, op="mask").count == 3
    loaded = datasets.load_from_disk(str(saved))
    assert len(loaded) == 6
    assert loaded.features == datasets.Dataset.from_dict(ROWS).features
    masked = [row for row in loaded if row["email"] == "[gone]"]
    assert len(masked) == 3 and all(row["score"] is None for row in masked)
    assert connector.verify(A).remaining == 0


def test_a_nested_column_and_a_batch_of_requests(saved):
    connector = target(match={"email": "email", "user_id": "meta.user_id"})
    results = connector.erase_groups({1: A, 2: {"user_id": ["3"]}, 3: {"user_id": ["99"]}})
    assert {key: r.count for key, r in results.items()} == {1: 3, 2: 1, 3: 0}
    assert loaded_emails(saved) == [OTHER, OTHER]


def test_purged_removes_the_cache_files_holding_the_subject_and_reads_the_rest(saved, roots):
    """A `map` cache beside the shards, and a `load_dataset` cache in cache_dir, as the
    library writes them."""
    source = roots / "raw.jsonl"
    lines = [json.dumps({"email": email, "n": n}) for n, email in enumerate(ROWS["email"])]
    source.write_text("\n".join(lines) + "\n")
    cache = roots / "hf-cache"
    built = datasets.load_dataset("json", data_files=str(source), cache_dir=str(cache))["train"]
    assert len(built) == 6
    others = datasets.Dataset.from_dict({"email": [OTHER]}).map(
        lambda row: row, cache_file_name=str(cache / "cache-others.arrow")
    )
    assert len(others) == 1
    datasets.load_from_disk(str(saved)).map(lambda row: {"length": len(row["text"])})
    assert list(saved.glob("cache-*.arrow"))
    caches = sorted(p for p in cache.rglob("*.arrow"))
    assert len(caches) == 2

    connector = target(cache_dir="hf-cache", history={"policy": "purged"})
    assert connector.erase(A).count == 3
    assert not list(saved.glob("cache-*.arrow"))
    assert [p.name for p in cache.rglob("*.arrow")] == ["cache-others.arrow"]
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert (checked.history.policy, checked.history.versions_checked) == ("purged", 2)
    # The dataset maps afresh: its new fingerprint matches no old cache.
    mapped = datasets.load_from_disk(str(saved)).map(lambda row: {"length": len(row["text"])})
    assert EMAIL not in mapped["email"]


def test_a_retained_cache_is_left_and_the_receipt_says_until_when(saved, roots):
    datasets.load_from_disk(str(saved)).map(lambda row: {"length": 1})
    connector = target(history={"policy": "retained", "retain_days": 14, "legal_basis": "backup"})
    connector.erase(A)
    assert list(saved.glob("cache-*.arrow"))
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert checked.history.policy == "retained"
    assert (checked.history.retained_until - checked.at).days == 14
    # Purged, the post-check reads the cache the retained policy left, and finds A there.
    assert target(history={"policy": "purged"}).verify(A).remaining == 3


def test_a_dataset_dict_is_erased_split_by_split(roots):
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(ROWS),
            "test": datasets.Dataset.from_dict({k: v[1:3] for k, v in ROWS.items()}),
        }
    ).save_to_disk(roots / "qa")
    assert target().erase(A).count == 4
    loaded = datasets.load_from_disk(str(roots / "qa"))
    assert sorted(loaded["test"]["email"]) == [OTHER]
    assert EMAIL not in loaded["train"]["email"]
    assert target().verify(A).remaining == 0


def test_the_example_count_the_info_records_follows_a_delete(roots):
    """A dataset built by `load_dataset` records its split's size in dataset_info.json."""
    source = roots / "raw.jsonl"
    source.write_text("".join(json.dumps({"email": e}) + "\n" for e in ROWS["email"]))
    built = datasets.load_dataset("json", data_files=str(source), cache_dir=str(roots / "c"))
    built["train"].save_to_disk(roots / "qa")
    info = json.loads((roots / "qa" / "dataset_info.json").read_text())
    assert info["splits"]["train"]["num_examples"] == 6
    assert target().erase(A).count == 3
    info = json.loads((roots / "qa" / "dataset_info.json").read_text())
    assert info["splits"]["train"]["num_examples"] == 3
    assert len(datasets.load_from_disk(str(roots / "qa"))) == 3


def test_bad_folders_and_configs_are_refused(roots, saved):
    (roots / "empty").mkdir()
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("hf_dataset", {"path": "empty", "match": {"email": "email"}}).check()
    assert excinfo.value.code == "target_unreachable"
    with pytest.raises(ApplicationError) as excinfo:
        target(cache_dir="/etc")
    assert excinfo.value.code == "path_outside_roots"
    with pytest.raises(ApplicationError) as excinfo:
        target(match={"email": "missing"}).locate(A)
    assert excinfo.value.fields == {"match.email": "not in the schema"}
    state = json.loads((saved / "state.json").read_text())
    state["_data_files"] = [{"filename": "../elsewhere.arrow"}]
    (saved / "state.json").write_text(json.dumps(state))
    with pytest.raises(ApplicationError) as excinfo:
        target().erase(A)
    assert excinfo.value.code == "file_unreadable"


def test_the_arrow_stream_is_what_datasets_writes(saved):
    with pa.memory_map(str(saved / "data-00000-of-00003.arrow")) as source:
        assert pa.ipc.open_stream(source).schema.metadata[b"huggingface"]

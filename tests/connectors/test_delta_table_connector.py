"""The `delta_table` connector against real Delta tables written with `deltalake`. No database."""

import json
from datetime import timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from connectors import connector_for
from connectors.base import Capability
from core.errors import ApplicationError
from tests import identifiers

EMAIL, OTHER = "a@example.org", "b@example.org"
identifiers.USED.update({EMAIL, OTHER})
A = {"email": [EMAIL]}


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "lake"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


@pytest.fixture
def table(roots):
    """Three versions: A's row in each of two appends, and A again as an upper-case, spaced
    value, beside other people's rows."""
    path = roots / "tickets"
    write_deltalake(
        path,
        pa.table(
            {
                "email": [EMAIL, OTHER, "c@example.org"],
                "user_id": pa.array([1, 2, 3], pa.int64()),
                "note": ["first", "second", "third"],
            }
        ),
    )
    write_deltalake(
        path,
        pa.table(
            {
                "email": [" A@Example.ORG ", OTHER],
                "user_id": pa.array([4, 5], pa.int64()),
                "note": ["fourth", "fifth"],
            }
        ),
        mode="append",
    )
    return path


def target(history=None, **config):
    config = {"path": "tickets", "match": {"email": "email"}, **config}
    if history is not None:
        config["history"] = history
    return connector_for("delta_table", config)


def emails(path, version=None) -> list:
    return sorted(DeltaTable(path, version=version).to_pyarrow_table()["email"].to_pylist())


def log_text(path) -> str:
    return "".join(p.read_text() for p in sorted((path / "_delta_log").glob("*.json")))


def test_locate_finds_the_rows_as_other_kinds_normalize_them(table):
    assert target().locate(A).count == 2
    assert target().locate({"email": ["nobody@example.org"]}).count == 0


def test_a_retained_erasure_deletes_from_the_current_version_and_says_until_when(table):
    erased = target().erase(A)
    assert (erased.op, erased.method, erased.count) == ("delete", "delta_merge", 2)
    assert emails(table) == sorted(["c@example.org", OTHER, OTHER])
    checked = target().verify(A)
    assert checked.remaining == 0
    history = checked.history
    assert (history.policy, history.versions_checked) == ("retained", 1)
    # The table's log keeps old versions' statistics for 30 days (Delta's default), longer
    # than the 7 days of files: the receipt gives the later date.
    assert history.retained_until - checked.at == timedelta(days=30)
    # Retained: time travel still reaches A, as the receipt says.
    assert EMAIL in emails(table, version=0)
    # The merge names columns only: its commit never spells the subject's value.
    merges = [e for e in DeltaTable(table).history() if e["operation"] == "MERGE"]
    assert merges
    assert all("example.org" not in json.dumps(e["operationParameters"]) for e in merges)


def test_retain_days_beyond_the_log_retention_is_the_date_given(table):
    checked = target({"policy": "retained", "retain_days": 90}).verify(A)
    assert checked.history.retained_until - checked.at == timedelta(days=90)


def test_the_tables_own_log_retention_is_read_for_the_date(table):
    DeltaTable(table).alter.set_table_properties({"delta.logRetentionDuration": "interval 2 weeks"})
    checked = target({"policy": "retained", "retain_days": 3}).verify(A)
    assert checked.history.retained_until - checked.at == timedelta(days=14)
    DeltaTable(table).alter.set_table_properties({"delta.logRetentionDuration": "forever"})
    with pytest.raises(ApplicationError) as excinfo:
        target().verify(A)
    assert excinfo.value.fields == {"path": "unreadable log retention"}


def test_a_purged_erasure_leaves_no_version_log_entry_or_statistic_holding_the_subject(table):
    DeltaTable(table).alter.set_table_properties({"delta.logRetentionDuration": "interval 60 days"})
    connector = target({"policy": "purged"})
    assert connector.erase(A).count == 2
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert checked.history.policy == "purged"
    assert checked.history.retained_until is None
    current = DeltaTable(table)
    # Every version the store still lists was read, and none before them can be loaded.
    assert checked.history.versions_checked == len(current.history()) >= 1
    for version in range(current.version()):
        try:
            assert EMAIL not in emails(table, version=version)
        except (TableNotFoundError, FileNotFoundError):
            continue
    assert "example.org" not in log_text(table).replace(OTHER, "").replace("c@example.org", "")
    # Others' rows stay, and the operator's log retention is set back.
    assert emails(table) == sorted(["c@example.org", OTHER, OTHER])
    assert current.metadata().configuration["delta.logRetentionDuration"] == "interval 60 days"


def test_a_purged_post_check_finds_a_version_still_holding_the_subject(table):
    """Without the purge (another tool's erasure, retained), the purged post-check reads the
    older versions and reports what they still hold."""
    target().erase(A)
    checked = target({"policy": "purged"}).verify(A)
    assert checked.remaining > 0
    assert checked.history.versions_checked > 1


def test_a_purge_removes_another_tools_delete_predicate_naming_the_subject(table):
    DeltaTable(table).delete(f"email = '{EMAIL}'")
    assert EMAIL in log_text(table)
    assert target({"policy": "purged"}).verify(A).remaining > 0
    connector = target({"policy": "purged"})
    assert connector.erase(A).count == 1  # the spaced, upper-case spelling
    assert connector.verify(A).remaining == 0
    assert EMAIL not in log_text(table)


def test_masking_keeps_the_rows_with_their_match_and_listed_columns_masked(table):
    connector = target(mask_columns=["email", "user_id"], mask_value="[gone]")
    assert connector.erase(A, op="mask").count == 2
    rows = DeltaTable(table).to_pyarrow_table().sort_by("note").to_pylist()
    masked = [row for row in rows if row["email"] == "[gone]"]
    assert sorted(row["note"] for row in masked) == ["first", "fourth"]
    assert all(row["user_id"] is None for row in masked)
    assert len(rows) == 5
    assert connector.verify(A).remaining == 0


def test_a_batch_counts_each_group_and_erases_in_one_pass(table):
    connector = target({"policy": "purged"}, match={"email": "email", "user_id": "user_id"})
    results = connector.erase_groups({1: A, 2: {"user_id": ["3"]}, 3: {"email": ["x@y.org"]}})
    assert {key: r.count for key, r in results.items()} == {1: 2, 2: 1, 3: 0}
    assert results[3].op == "none"
    assert emails(table) == [OTHER, OTHER]
    checks = connector.verify_groups({1: A, 2: {"user_id": ["3"]}})
    assert {key: c.remaining for key, c in checks.items()} == {1: 0, 2: 0}


def test_bad_configs_and_tables_are_refused(table, roots):
    with pytest.raises(ApplicationError) as excinfo:
        target({"policy": "purged", "retain_days": 3})
    assert excinfo.value.fields == {"history.retain_days": "only with retained"}
    with pytest.raises(ApplicationError) as excinfo:
        target({"policy": "forever"})
    assert excinfo.value.code == "invalid_target_config"
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("delta_table", {"path": "../elsewhere", "match": {"email": "email"}})
    assert excinfo.value.code == "path_outside_roots"
    with pytest.raises(ApplicationError) as excinfo:
        target(match={"email": "e-mail"})
    assert excinfo.value.code == "invalid_target_config"
    with pytest.raises(ApplicationError) as excinfo:
        target(match={"email": "missing"}).locate(A)
    assert excinfo.value.fields == {"match.email": "not in the schema"}
    (roots / "empty").mkdir()
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("delta_table", {"path": "empty", "match": {"email": "email"}}).check()
    assert excinfo.value.code == "target_unreachable"


def test_a_table_with_the_change_data_feed_on_is_refused(table):
    DeltaTable(table).alter.set_table_properties({"delta.enableChangeDataFeed": "true"})
    with pytest.raises(ApplicationError) as excinfo:
        target().erase(A)
    assert excinfo.value.fields == {"path": "change data feed on"}
    assert EMAIL in emails(table)


def test_the_kind_declares_what_it_can_do(table):
    connector = target()
    assert all(connector.supports(c) for c in (Capability.DELETE, Capability.MASK))
    assert connector.batches and connector.file_roots


# --- a table on S3 (the test session's SeaweedFS) ----------------------------------------------


def s3_table(object_store, *, versioned: bool = False) -> tuple[str, dict[str, str]]:
    """The fixture's two appends, written to a new bucket; the table's URI and the options a
    reader of the test's own uses."""
    from tests.objectstore import KEY_ID, SECRET

    uri = f"s3://{object_store.bucket(versioned=versioned)}/lake/tickets"
    options = {
        "AWS_ENDPOINT_URL": object_store.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ALLOW_HTTP": "true",
        "aws_conditional_put": "etag",
    }
    first = {"email": [EMAIL, OTHER, "c@example.org"], "user_id": pa.array([1, 2, 3], pa.int64())}
    second = {"email": [" A@Example.ORG ", OTHER], "user_id": pa.array([4, 5], pa.int64())}
    write_deltalake(uri, pa.table(first), storage_options=options)
    write_deltalake(uri, pa.table(second), storage_options=options, mode="append")
    return uri, options


def s3_target(object_store, uri, history=None, **config):
    from tests.objectstore import KEY_ID_ENV, SECRET_ENV

    config = {
        "uri": uri,
        "match": {"email": "email"},
        "endpoint_url": object_store.endpoint,
        "access_key_id_env": KEY_ID_ENV,
        "secret_access_key_env": SECRET_ENV,
        **config,
    }
    if history is not None:
        config["history"] = history
    return connector_for("delta_table", config)


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_a_purged_erasure_on_s3_leaves_no_object_or_version_holding_the_subject(
    object_store, versioned
):
    uri, options = s3_table(object_store, versioned=versioned)
    bucket = uri.split("/")[2]

    def holding() -> list[str]:
        """Every object, or earlier version of one, whose bytes spell A's address (in any
        case: the second append has it upper-cased)."""
        return [
            v["Key"]
            for v in object_store.versions(bucket)
            if EMAIL.encode() in object_store.read(bucket, v["Key"], v.get("VersionId")).lower()
        ]

    assert holding()  # the data files' statistics and the log's spell it
    connector = s3_target(object_store, uri, {"policy": "purged"})
    connector.check()
    assert connector.erase(A).count == 2
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert checked.history.policy == "purged"
    assert holding() == []  # nor any earlier version of an object, in a versioned bucket
    table = DeltaTable(uri, storage_options=options)
    assert sorted(table.to_pyarrow_table()["email"].to_pylist()) == sorted(
        ["c@example.org", OTHER, OTHER]
    )
    assert connector.lineage_dataset() == (f"s3://{bucket}", "lake/tickets")
    # Registration's probe of conditional writes left nothing behind.
    assert not [v for v in object_store.versions(bucket) if "_lup_put_if_absent" in v["Key"]]


def test_a_retained_erasure_on_s3_says_until_when(object_store):
    uri, options = s3_table(object_store)
    connector = s3_target(object_store, uri, {"policy": "retained", "retain_days": 60})
    assert connector.erase(A).count == 2
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert checked.history.retained_until == checked.at + timedelta(days=60)
    # The earlier versions are kept, as the receipt says.
    assert (
        EMAIL
        in DeltaTable(uri, version=0, storage_options=options)
        .to_pyarrow_table()["email"]
        .to_pylist()
    )


def test_s3_settings_are_for_a_table_on_s3_and_their_variables_must_be_set(
    object_store, roots, monkeypatch
):
    from tests.objectstore import SECRET_ENV

    with pytest.raises(ApplicationError) as excinfo:
        connector_for(
            "delta_table",
            {"path": "tickets", "match": {"email": "email"}, "endpoint_url": "http://s3:8333"},
        )
    assert excinfo.value.fields == {"endpoint_url": "only with uri"}
    with pytest.raises(ApplicationError):
        connector_for(
            "delta_table",
            {"path": "tickets", "uri": "s3://bucket/t", "match": {"email": "email"}},
        )
    uri, _options = s3_table(object_store)
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ApplicationError) as excinfo:
        s3_target(object_store, uri).locate(A)
    assert "secret_access_key_env" in excinfo.value.fields

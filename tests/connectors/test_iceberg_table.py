"""`iceberg_table`: a real Iceberg table (pyiceberg) in a SQL catalog on the test PostgreSQL, its
warehouse on local files under a file root. An erasure deletes the subject's rows in a new
snapshot; the older snapshots still hold them unless the history policy is `purged`, after which
no snapshot scan, time travel or manifest entry shows them and their files are gone."""

import contextlib
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from django.conf import settings
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo
from pyiceberg.table import StaticTable

from connectors import History, connector_for
from connectors.base import ConnectorConfigError, TargetUnavailable
from erasure.models import TargetRun
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_masking import target_receipts

URI_ENV = "LUP_TEST_ICEBERG_CATALOG"


def catalog_uri() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql+psycopg://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def lake(db, tmp_path, settings, monkeypatch):
    """A catalog of the test's own (by name) and a warehouse under the file root."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    monkeypatch.setenv(URI_ENV, catalog_uri())
    name = f"lup_{uuid.uuid4().hex[:12]}"
    catalog = SqlCatalog(name, uri=catalog_uri(), warehouse=f"file://{tmp_path}/warehouse")
    catalog.create_namespace("crm")
    yield name, catalog
    catalog.engine.dispose()


def people(catalog, *batches):
    """The table, one append (one snapshot) per batch of (email, name)."""
    schema = pa.schema([("email", pa.string()), ("name", pa.string())])
    table = catalog.create_table("crm.people", schema=schema)
    for batch in batches:
        table.append(
            pa.table({"email": [e for e, _ in batch], "name": [n for _, n in batch]}, schema=schema)
        )
    return table.refresh()


def config(name, **extra):
    return {
        "catalog_uri_env": URI_ENV,
        "catalog_name": name,
        "table": "crm.people",
        "match": {"email": "email"},
        **extra,
    }


def found(table, email) -> list[int]:
    """Per snapshot the table keeps, the subject's rows a time-travel scan returns."""
    return [
        table.scan(row_filter=EqualTo("email", email), snapshot_id=s.snapshot_id)
        .to_arrow()
        .num_rows
        for s in table.snapshots()
    ]


def in_metadata(table, email) -> int:
    """Manifest entries, over every snapshot kept, whose bounds show the subject's value."""
    hits = 0
    for snapshot in table.snapshots():
        for entry in table.inspect.entries(snapshot_id=snapshot.snapshot_id).to_pylist():
            bounds = entry["readable_metrics"]["email"]
            # Iceberg keeps the first 16 characters of a string bound (an upper one with its
            # last character raised): still the start of the subject's address.
            hits += any(
                bound and email.startswith(bound[:15])
                for bound in (bounds["lower_bound"], bounds["upper_bound"])
            )
    return hits


def files(root: Path) -> set[Path]:
    return {p for p in (root / "warehouse").rglob("*") if p.is_file()}


def test_without_a_policy_older_snapshots_still_hold_the_subject(lake):
    name, catalog = lake
    email, other = identifiers.email().lower(), identifiers.email().lower()
    people(catalog, [(email, "Sokha"), (other, "Dara")], [(email, "Sokha K.")])
    target = connector_for("iceberg_table", config(name))
    assert target.locate({"email": [email]}).count == 2
    erased = target.erase({"email": [email]})
    assert (erased.op, erased.count, erased.method) == ("delete", 2, "iceberg_delete")
    checked = target.verify({"email": [email]})
    assert (checked.remaining, checked.history) == (0, None)
    table = catalog.load_table("crm.people")
    assert found(table, email)[-1] == 0
    assert max(found(table, email)) == 2  # time travel still returns the rows
    assert in_metadata(table, email) > 0


def test_purged_leaves_no_snapshot_entry_or_file_holding_the_subject(lake, tmp_path):
    name, catalog = lake
    email, other = identifiers.email().lower(), identifiers.email().lower()
    people(catalog, [(email, "Sokha"), (other, "Dara")], [(email, "Sokha K.")], [(other, "D2")])
    target = connector_for("iceberg_table", config(name, history={"policy": "purged"}))
    assert target.erase({"email": [email]}).count == 2
    before = files(tmp_path)

    checked = target.verify({"email": [email]})
    assert checked.remaining == 0
    assert checked.history == History(policy="purged", versions_checked=1)
    table = catalog.load_table("crm.people")
    assert found(table, email) == [0]
    assert in_metadata(table, email) == 0
    assert table.scan().to_arrow().sort_by("name")["name"].to_pylist() == ["D2", "Dara"]
    gone = before - files(tmp_path)
    assert any(p.suffix == ".parquet" for p in gone)  # the data files that held the subject
    # No Parquet file left under the warehouse holds the subject's value.
    assert not any(
        email.encode() in p.read_bytes() for p in files(tmp_path) if p.suffix == ".parquet"
    )
    # Time travel through any metadata file left (an older table version) finds nothing
    # either: the files its snapshots name are gone.
    for metadata in (tmp_path / "warehouse").rglob("*.metadata.json"):
        old = StaticTable.from_metadata(f"file://{metadata}")
        for snapshot in old.snapshots():
            try:
                rows = old.scan(
                    row_filter=EqualTo("email", email), snapshot_id=snapshot.snapshot_id
                )
                assert rows.to_arrow().num_rows == 0
            except FileNotFoundError:
                pass
    # Read again: nothing more to remove, and still nothing found.
    assert target.verify({"email": [email]}).remaining == 0


def test_purged_fails_while_a_tag_keeps_a_snapshot_with_the_subject(lake):
    name, catalog = lake
    email = identifiers.email().lower()
    table = people(catalog, [(email, "Sokha")])
    table.manage_snapshots().create_tag(table.current_snapshot().snapshot_id, "audit").commit()
    target = connector_for("iceberg_table", config(name, history={"policy": "purged"}))
    target.erase({"email": [email]})
    checked = target.verify({"email": [email]})
    assert checked.remaining >= 1  # the tagged snapshot still holds the row: never "purged"
    table = catalog.load_table("crm.people")
    table.manage_snapshots().remove_tag("audit").commit()
    assert target.verify({"email": [email]}).remaining == 0


def test_retained_reads_the_current_snapshot_and_says_until_when_older_ones_are_kept(lake):
    name, catalog = lake
    email = identifiers.email().lower()
    people(catalog, [(email, "Sokha")])
    policy = {"policy": "retained", "retain_days": 7}
    target = connector_for("iceberg_table", config(name, history=policy))
    target.erase({"email": [email]})
    checked = target.verify({"email": [email]})
    assert checked.remaining == 0
    assert checked.history == History(
        policy="retained", versions_checked=1, retained_until=checked.at + timedelta(days=7)
    )
    assert max(found(catalog.load_table("crm.people"), email)) == 1  # kept, as the receipt says


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"table": "crm.nobody"}, "unknown_table", "table"),
        ({"match": {"email": "mail"}}, "unknown_column", "match.email"),
    ],
)
def test_names_not_in_the_catalog_are_refused(lake, change, code, field):
    name, catalog = lake
    people(catalog, [("a@example.org", "A")])
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("iceberg_table", {**config(name), **change}).locate(
            {"email": ["x@example.org"]}
        )
    assert excinfo.value.code == code
    assert field in excinfo.value.fields


def test_a_table_outside_the_file_roots_is_refused(lake, settings, tmp_path):
    name, catalog = lake
    people(catalog, [("a@example.org", "A")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings.LUP_FILE_ROOTS = [str(elsewhere)]
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("iceberg_table", config(name)).locate({"email": ["a@example.org"]})
    assert excinfo.value.code == "path_outside_roots"


@pytest.fixture
def in_process(transactional_db, lake):
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield lake
    app.conf.task_always_eager = was


def test_an_erasure_request_receipts_the_purged_history(in_process, api):
    name, catalog = in_process
    email, other = identifiers.email().lower(), identifiers.email().lower()
    people(catalog, [(email, "Sokha"), (other, "Dara")], [(email, "Sokha K.")])
    staff = api("erasure:write", "erasure:read")
    registered = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "lake-people",
            "kind": "iceberg_table",
            "country": "SG",
            "always": True,
            "config": config(name, history={"policy": "purged"}),
        },
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    approve_proposed_targets()
    url = "/api/v1/erasure-requests"
    request_id = staff.post(
        url, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{url}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    assert staff.post(f"{url}/{request_id}/plan").status_code == 201

    run = TargetRun.objects.get(request_id=request_id)
    assert (run.status, run.outcome) == ("done", "erased"), run.last_error
    (receipt,) = target_receipts(request_id)
    assert receipt["action"] == {**receipt["action"], "op": "delete", "count": "2"}
    assert receipt["postcheck"]["method"] == "iceberg_scan"
    assert receipt["postcheck"]["remaining"] == "0"
    assert receipt["history"] == {"policy": "purged", "versions_checked": "1"}
    assert found(catalog.load_table("crm.people"), email) == [0]


def test_a_catalog_url_naming_a_database_without_a_catalog_creates_nothing_there(
    lake, tmp_path, monkeypatch
):
    name, _catalog = lake
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    monkeypatch.setenv(URI_ENV, f"sqlite:///{other}")
    with pytest.raises(TargetUnavailable):
        connector_for("iceberg_table", config(name)).locate({"email": ["a@example.org"]})
    with contextlib.closing(sqlite3.connect(other)) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_one_batch_counts_each_request_and_writes_one_snapshot(lake):
    name, catalog = lake
    a, b, nobody = (identifiers.email().lower() for _ in range(3))
    people(catalog, [(a, "A"), (b, "B"), (a, "A2")])
    target = connector_for("iceberg_table", config(name))
    snapshots = len(catalog.load_table("crm.people").snapshots())
    groups = {1: {"email": [a]}, 2: {"email": [b]}, 3: {"email": [nobody]}}
    erased = target.erase_groups(groups)
    assert {key: (e.op, e.count) for key, e in erased.items()} == {
        1: ("delete", 2),
        2: ("delete", 1),
        3: ("none", 0),
    }
    assert len(catalog.load_table("crm.people").snapshots()) == snapshots + 1
    assert {key: v.remaining for key, v in target.verify_groups(groups).items()} == {
        1: 0,
        2: 0,
        3: 0,
    }


# --- a warehouse on S3 (the test session's SeaweedFS) ------------------------------------------


@pytest.fixture
def s3_lake(db, object_store, request, settings, tmp_path, monkeypatch):
    """A catalog of the test's own on the test PostgreSQL, its warehouse in a new bucket
    (versioned when the test is parametrized so)."""
    from tests.objectstore import KEY_ID, SECRET

    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    monkeypatch.setenv(URI_ENV, catalog_uri())
    bucket = object_store.bucket(versioned=getattr(request, "param", False))
    name = f"lup_{uuid.uuid4().hex[:12]}"
    catalog = SqlCatalog(
        name,
        uri=catalog_uri(),
        warehouse=f"s3://{bucket}/warehouse",
        **{
            "s3.endpoint": object_store.endpoint,
            "s3.access-key-id": KEY_ID,
            "s3.secret-access-key": SECRET,
            "s3.region": "us-east-1",
        },
    )
    catalog.create_namespace("crm")
    yield name, catalog, bucket
    catalog.engine.dispose()


def on_s3(object_store, name, bucket, **extra):
    from tests.objectstore import KEY_ID_ENV, SECRET_ENV

    return config(
        name,
        warehouse_uri=f"s3://{bucket}/warehouse",
        endpoint_url=object_store.endpoint,
        access_key_id_env=KEY_ID_ENV,
        secret_access_key_env=SECRET_ENV,
        **extra,
    )


def keys(object_store, bucket) -> set[str]:
    listed = object_store.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"] for item in listed}


@pytest.mark.parametrize("s3_lake", [False, True], ids=["unversioned", "versioned"], indirect=True)
def test_purged_on_s3_leaves_no_snapshot_object_or_version_holding_the_subject(
    s3_lake, object_store
):
    name, catalog, bucket = s3_lake
    email, other = identifiers.email().lower(), identifiers.email().lower()
    people(catalog, [(email, "Sokha"), (other, "Dara")], [(email, "Sokha K.")], [(other, "D2")])
    purged = on_s3(object_store, name, bucket, history={"policy": "purged"})
    target = connector_for("iceberg_table", purged)
    target.check()
    assert target.locate({"email": [email]}).count == 2

    def holding() -> list[str]:
        """Every object, or earlier version of one, whose bytes spell the subject's value."""
        return [
            v["Key"]
            for v in object_store.versions(bucket)
            if email.encode() in object_store.read(bucket, v["Key"], v.get("VersionId"))
        ]

    assert holding()  # the data files (their column statistics) and manifests spell it
    assert target.erase({"email": [email]}).count == 2
    before = keys(object_store, bucket)

    checked = target.verify({"email": [email]})
    assert checked.remaining == 0
    assert checked.history == History(policy="purged", versions_checked=1)
    table = catalog.load_table("crm.people")
    assert found(table, email) == [0]
    assert in_metadata(table, email) == 0
    assert table.scan().to_arrow().sort_by("name")["name"].to_pylist() == ["D2", "Dara"]
    after = keys(object_store, bucket)
    assert any(key.endswith(".parquet") for key in before - after)
    assert holding() == []  # nor any earlier version of an object, in a versioned bucket
    location = table.location().removeprefix(f"s3://{bucket}/")
    assert target.lineage_dataset() == (f"s3://{bucket}", location.strip("/"))
    # Read again: nothing more to remove, and still nothing found.
    assert target.verify({"email": [email]}).remaining == 0


def test_retained_on_s3_says_until_when_older_snapshots_are_kept(s3_lake, object_store):
    name, catalog, bucket = s3_lake
    email = identifiers.email().lower()
    people(catalog, [(email, "Sokha")], [(identifiers.email().lower(), "Dara")])
    policy = {"policy": "retained", "retain_days": 7}
    target = connector_for("iceberg_table", on_s3(object_store, name, bucket, history=policy))
    assert target.erase({"email": [email]}).count == 1
    checked = target.verify({"email": [email]})
    assert checked.remaining == 0
    assert checked.history == History(
        policy="retained", versions_checked=1, retained_until=checked.at + timedelta(days=7)
    )
    assert max(found(catalog.load_table("crm.people"), email)) == 1  # kept, as the receipt says


def test_orphans_on_s3_past_the_grace_go_and_nothing_outside_the_location(
    s3_lake, object_store, monkeypatch
):
    from connectors import iceberg_table

    name, catalog, bucket = s3_lake
    email = identifiers.email().lower()
    people(catalog, [(email, "Sokha")])
    location = catalog.load_table("crm.people").location().removeprefix(f"s3://{bucket}/")
    orphan = f"{location}/data/00000-orphan.parquet"
    beside = f"{location}-archive/data/00000-kept.parquet"
    for key in (orphan, beside):
        object_store.s3.put_object(Bucket=bucket, Key=key, Body=email.encode())
    # Every unreferenced object counts as old enough (the store sets LastModified itself).
    monkeypatch.setattr(iceberg_table, "ORPHAN_GRACE", timedelta(seconds=-5))
    purged = on_s3(object_store, name, bucket, history={"policy": "purged"})
    target = connector_for("iceberg_table", purged)
    target.erase({"email": [email]})
    assert target.verify({"email": [email]}).remaining == 0
    left = keys(object_store, bucket)
    assert orphan not in left
    assert beside in left  # another table's prefix that merely starts alike


def test_s3_credentials_come_from_the_named_variables(s3_lake, object_store, monkeypatch):
    from tests.objectstore import SECRET_ENV

    name, catalog, bucket = s3_lake
    people(catalog, [("a@example.org", "A")])
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("iceberg_table", on_s3(object_store, name, bucket)).locate(
            {"email": ["a@example.org"]}
        )
    assert "secret_access_key_env" in excinfo.value.fields
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    with pytest.raises(TargetUnavailable):
        connector_for("iceberg_table", on_s3(object_store, name, bucket)).locate(
            {"email": ["a@example.org"]}
        )


@pytest.mark.parametrize(
    ("warehouse", "field"),
    [
        (None, "required for a table on S3"),
        ("s3://{bucket}/ware", "outside"),  # a prefix that merely starts alike
        ("s3://elsewhere/warehouse", "outside"),
    ],
)
def test_a_table_on_s3_outside_the_given_warehouse_is_refused(
    s3_lake, object_store, warehouse, field
):
    name, catalog, bucket = s3_lake
    people(catalog, [("a@example.org", "A")])
    settings = on_s3(object_store, name, bucket)
    if warehouse is None:
        del settings["warehouse_uri"]
    else:
        settings["warehouse_uri"] = warehouse.format(bucket=bucket)
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("iceberg_table", settings).locate({"email": ["a@example.org"]})
    assert excinfo.value.code == "path_outside_roots"
    assert excinfo.value.fields == {"warehouse_uri": field}
    settings["warehouse_uri"] = f"s3://{bucket}"  # the whole bucket
    assert connector_for("iceberg_table", settings).locate({"email": ["a@example.org"]}).count == 1

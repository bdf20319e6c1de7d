"""The `lance_table` connector against real LanceDB tables. No database."""

import warnings
from datetime import timedelta

import lancedb
import pyarrow as pa
import pytest

from connectors import connector_for
from core.errors import ApplicationError
from tests import identifiers

EMAIL, OTHER = "a@example.org", "b@example.org"
identifiers.USED.update({EMAIL, OTHER})
A = {"email": [EMAIL]}
VECTOR = pa.list_(pa.float32(), 4)


def chunks(emails: list[str], first: int = 0) -> pa.Table:
    """A chunk per e-mail; each row's embedding is close to its neighbours' in order."""
    rows = range(first, first + len(emails))
    return pa.table(
        {
            "author_email": emails,
            "user_id": pa.array(list(rows), pa.int64()),
            "text": [f"chunk {n}" for n in rows],
            "vector": pa.array([[float(n), 1.0, 0.5, 0.25] for n in rows], VECTOR),
        }
    )


@pytest.fixture
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def table(roots):
    """Two appends (two fragments, three versions); A in both, once spelled in upper case."""
    database = lancedb.connect(str(roots / "vectors"))
    created = database.create_table("chunks", chunks([EMAIL, OTHER, "c@example.org", OTHER]))
    created.add(chunks([" A@Example.ORG ", OTHER, "d@example.org"], first=4))
    return created


def target(**config):
    return connector_for(
        "lance_table",
        {
            "path": "vectors",
            "table": "chunks",
            "match": {"email": "author_email"},
            "vector_column": "vector",
            **config,
        },
    )


def emails(table, version=None) -> list:
    opened = lancedb.connect(table._conn.uri).open_table("chunks")
    if version is not None:
        opened.checkout(version)
    return sorted(
        opened.search().select(["author_email"]).limit(None).to_arrow()["author_email"].to_pylist()
    )


def files(roots) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((roots / "vectors").rglob("*")) if p.is_file())


def test_a_purged_erasure_leaves_no_version_and_no_file_holding_the_subject(table, roots):
    connector = target(history={"policy": "purged"})
    assert connector.locate(A).count == 2
    erased = connector.erase(A)
    assert (erased.op, erased.method, erased.count) == ("delete", "lance_delete_by_row_id", 2)
    assert emails(table) == sorted(["c@example.org", "d@example.org", OTHER, OTHER, OTHER])
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert (checked.history.policy, checked.history.versions_checked) == ("purged", 1)
    # Only the latest version is left, and no file of the table holds the value any more
    # (deleted rows are compacted out, not only marked, and no predicate names them).
    assert len(table.list_versions()) == 1
    assert EMAIL.encode() not in files(roots)
    assert b"A@Example.ORG" not in files(roots)


def test_a_retained_erasure_keeps_earlier_versions_and_says_until_when(table):
    connector = target(history={"policy": "retained", "retain_days": 30})
    assert connector.erase(A).count == 2
    checked = connector.verify(A)
    assert checked.remaining == 0
    assert checked.history.versions_checked == 1
    assert checked.history.retained_until - checked.at == timedelta(days=30)
    assert EMAIL in emails(table, version=1)


def test_the_vector_search_of_a_post_check_on_its_own_is_seeded_from_an_earlier_version(table):
    """A fresh connector (a retried post-check) finds the subject's embeddings in the version
    the retained policy keeps, and the search over the current one returns none of theirs."""
    target().erase(A)
    fresh = target()
    assert fresh.verify(A).remaining == 0
    assert len(fresh._seeds[None]) == 2
    # The same search on the version before the erasure returns the subject's rows.
    old = target()
    old._seeds = fresh._seeds
    database = lancedb.connect(table._conn.uri).open_table("chunks")
    database.checkout(1)
    counts = {None: 0}
    union, owners = old.owners({None: A})
    old._search(database, fresh._seeds, union, owners, counts, old.deadline())
    assert counts[None] >= 1


def test_a_purged_post_check_reads_every_version_left(table):
    target().erase(A)  # retained: the earlier versions hold A
    checked = target(history={"policy": "purged"}).verify(A)
    assert checked.remaining > 0
    assert checked.history.versions_checked == len(table.list_versions()) > 1


def test_masking_keeps_the_rows_and_nulls_what_is_not_text(table):
    connector = target(mask_columns=["author_email", "user_id"], history={"policy": "purged"})
    assert connector.erase(A, op="mask").count == 2
    rows = lancedb.connect(table._conn.uri).open_table("chunks").to_arrow().to_pylist()
    masked = [row for row in rows if row["author_email"] == "[erased]"]
    assert len(rows) == 7 and len(masked) == 2
    assert all(row["user_id"] is None for row in masked)
    assert connector.verify(A).remaining == 0


def test_a_batch_counts_each_group(table):
    connector = target(match={"email": "author_email", "user_id": "user_id"})
    results = connector.erase_groups({1: A, 2: {"user_id": ["2"]}, 3: {"user_id": ["99"]}})
    assert {key: r.count for key, r in results.items()} == {1: 2, 2: 1, 3: 0}
    assert results[3].op == "none"
    checks = connector.verify_groups({1: A, 2: {"user_id": ["2"]}})
    assert {key: c.remaining for key, c in checks.items()} == {1: 0, 2: 0}


def test_bad_configs_and_tables_are_refused(table):
    with pytest.raises(ApplicationError) as excinfo:
        target(table="missing").check()
    assert excinfo.value.code == "target_unreachable"
    with pytest.raises(ApplicationError) as excinfo:
        target(vector_column="embedding").check()
    assert excinfo.value.fields == {"vector_column": "not in the schema"}
    with pytest.raises(ApplicationError) as excinfo:
        target(table="../chunks")
    assert excinfo.value.code == "invalid_target_config"
    with pytest.raises(ApplicationError) as excinfo:
        target(path="/")
    assert excinfo.value.code == "path_outside_roots"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert target().locate({"email": ["nobody@example.org"]}).count == 0

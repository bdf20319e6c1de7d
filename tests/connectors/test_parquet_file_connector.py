"""The `parquet_file` connector: rows of a Parquet file under a configured root. No database."""

import hashlib
import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import parquet_file
from connectors.base import Capability, ConnectorTimeout, Deadline
from connectors.parquet_file import ParquetFile
from core.errors import ApplicationError
from tests import identifiers

EMAIL = "a@example.org"
THIRD_EMAIL = "c@example.org"
PHONE = "+85512345678"
OTHER_PHONE = "+85512987654"
USER_ID = "user-7f3a"
EMAILS = [
    " A@Example.ORG ",  # 0: A, case and spaces
    "ba@example.org",  # 1
    "a@example.org.kh",  # 2
    "c@example.org",  # 3: A by phone
    None,  # 4
    "a@example.org\u00a0",  # 5: A, a non-ASCII space that str.strip() removes
    "xa@example.org",  # 6
    "A@EXAMPLE.ORG",  # 7: A
    "d@example.org",  # 8
]
PHONES = [None, "+855 12 987 654", None, "(+855) 12-345-678", None, "", "85512345678", None, "x"]
identifiers.USED.update(
    {
        EMAIL,
        THIRD_EMAIL,
        PHONE,
        OTHER_PHONE,
        USER_ID,
        *filter(None, EMAILS),
        # "x" is not a phone number, and would match every log.
        *(p for p in PHONES if p and any(c.isdigit() for c in p)),
    }
)
NOTES = ["សួស្តី", "สวัสดีครับ", "Xin chào", "ghi chú", "ខ្មែរ", "ไทย", "Tiếng Việt", "", None]
A = {"email": [EMAIL], "phone": [PHONE]}
MATCHING = [0, 3, 5, 7]
# Three row groups of three rows: A is in every one, and every one keeps a row.
ROW_GROUP_ROWS = 3
METADATA = {b"dataset": b"support-evals-v3", b"owner": "équipe données".encode()}


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "evals"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


def eval_table() -> pa.Table:
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("email", pa.string(), metadata={b"pii": b"email"}),
            pa.field("phone", pa.string()),
            pa.field("profile", pa.struct([("name", pa.string()), ("user_id", pa.string())])),
            pa.field("note", pa.string()),
            pa.field("score", pa.float64()),
            pa.field("tags", pa.list_(pa.string())),
        ],
        metadata=METADATA,
    )
    rows = range(len(EMAILS))
    return pa.table(
        {
            "id": list(rows),
            "email": EMAILS,
            "phone": PHONES,
            "profile": [
                {"name": f"name {i}", "user_id": USER_ID if i == 4 else f"u{i}"} for i in rows
            ],
            "note": NOTES,
            "score": [i / 2 for i in rows],
            "tags": [["t", str(i)] for i in rows],
        },
        schema=schema,
    )


def write(roots, name="set.parquet", table=None, **options) -> bytes:
    table = eval_table() if table is None else table
    options = {"row_group_size": ROW_GROUP_ROWS, "compression": "zstd", **options}
    pq.write_table(table, roots / name, **options)
    return (roots / name).read_bytes()


def target(path="set.parquet", **config) -> ParquetFile:
    config = {"path": path, "match": {"email": "email", "phone": "phone"}, **config}
    return ParquetFile(config=config)


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def refused(excinfo) -> str:
    return excinfo.value.code


def stored(roots, name="set.parquet") -> pa.Table:
    return pq.read_table(roots / name)


def without(table: pa.Table, rows) -> pa.Table:
    return table.take([i for i in range(table.num_rows) if i not in rows])


def test_the_connector_declares_what_it_can_do(roots):
    write(roots)
    parquet = target()
    assert parquet.capabilities == {
        Capability.LOCATE,
        Capability.DELETE,
        Capability.MASK,
        Capability.VERIFY,
        Capability.SCAN,
    }
    assert parquet.batches
    assert (parquet.erase_method, parquet.verify_method) == (
        "parquet_atomic_rewrite",
        "parquet_rescan",
    )


def test_delete_drops_matching_rows_and_keeps_schema_metadata_and_row_groups(roots):
    original = write(roots)
    table = stored(roots)
    path = roots / "set.parquet"
    path.chmod(0o640)
    parquet = target()

    assert parquet.locate(A).count == 4
    erased = parquet.erase(A)

    assert (erased.op, erased.count, erased.method) == ("delete", 4, "parquet_atomic_rewrite")
    assert (erased.before, erased.after) == (sha(original), sha(path.read_bytes()))
    assert erased.before != erased.after
    after = stored(roots)
    assert after.equals(without(table, MATCHING), check_metadata=True)
    assert after.schema.metadata == METADATA
    assert after.schema.field("email").metadata == {b"pii": b"email"}
    assert not after.schema.field("id").nullable
    footer = pq.ParquetFile(path).metadata
    assert footer.num_row_groups == 3
    assert [footer.row_group(i).num_rows for i in range(3)] == [2, 1, 2]
    assert footer.row_group(0).column(1).compression == "ZSTD"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(roots) == ["set.parquet"]
    assert parquet.verify(A).remaining == 0
    assert parquet.locate({"email": ["d@example.org", THIRD_EMAIL]}).count == 1  # row 8


def test_statistics_no_longer_hold_an_erased_value(roots):
    table = pa.table({"email": ["a@example.org", "b@example.org"]})
    write(roots, table=table, row_group_size=2)
    target(match={"email": "email"}).erase({"email": [EMAIL]})
    statistics = pq.ParquetFile(roots / "set.parquet").metadata.row_group(0).column(0).statistics
    assert (statistics.min, statistics.max) == ("b@example.org", "b@example.org")


def test_mask_sets_text_columns_to_the_mask_value_and_others_to_null(roots):
    original = write(roots)
    table = stored(roots)
    parquet = target(mask_columns=["email", "phone", "profile.user_id", "score"])

    erased = parquet.erase(A, op="mask")

    assert (erased.op, erased.count) == ("mask", 4)
    assert erased.before == sha(original)
    after = stored(roots)
    assert after.schema.equals(table.schema, check_metadata=True)
    before_rows, after_rows = table.to_pylist(), after.to_pylist()
    assert len(after_rows) == len(before_rows)
    for i, (old, new) in enumerate(zip(before_rows, after_rows, strict=True)):
        if i not in MATCHING:
            assert new == old
            continue
        assert new["email"] == new["phone"] == "[erased]"
        assert new["profile"] == {"name": old["profile"]["name"], "user_id": "[erased]"}
        assert new["score"] is None
        assert (new["id"], new["note"], new["tags"]) == (old["id"], old["note"], old["tags"])
    assert pq.ParquetFile(roots / "set.parquet").metadata.num_row_groups == 3
    assert parquet.verify(A).remaining == 0


def test_mask_of_a_dictionary_column_keeps_its_type(roots):
    table = pa.table(
        {"email": pa.array(["a@example.org", "b@example.org", "a@example.org"]).dictionary_encode()}
    )
    write(roots, table=table)
    erased = target(match={"email": "email"}, mask_value="").erase({"email": [EMAIL]}, op="mask")
    assert erased.count == 2
    after = pq.read_table(roots / "set.parquet")
    assert after.schema.field("email").type == table.schema.field("email").type
    assert after.column("email").to_pylist() == ["", "b@example.org", ""]


def test_emails_are_matched_exactly_and_without_regard_to_case(roots):
    values = [
        "a@example.org",
        "ba@example.org",
        "a@example.org.kh",
        "xa@example.org",
        "A@EXAMPLE.ORG",
        "\ta@Example.org\x1c",
        "a@example.or",
        "á@example.org",
        "a@example.org;c@example.org",
    ]
    identifiers.USED.update(values)
    write(roots, table=pa.table({"email": values}))
    parquet = target(match={"email": "email"})
    assert parquet.locate({"email": [EMAIL]}).count == 3
    assert parquet.erase({"email": [EMAIL]}).count == 3
    assert pq.read_table(roots / "set.parquet").column("email").to_pylist() == [
        v for i, v in enumerate(values) if i not in (0, 4, 5)
    ]


PHONE_SPELLINGS = [
    "+855 12 345 678",  # 0: A
    "(+855) 12-345-678",  # 1: A
    "+៨៥៥ ១២ ៣៤៥ ៦៧៨",  # 2: A, in Khmer digits
    "+๘๕๕ ๑๒ ๓๔๕ ๖๗๘",  # 3: A, in Thai digits
    "tel: +855 12 345 678",  # 4: A
    "+855-12-345-678#9",  # 5: A, with an extension
    "+855 12 345 678 ext. 9",  # 6: A, with an extension
    "85512345678",  # 7: no country code, so no number
    "+855 12 345 679",  # 8
    "+855 99 345 678",  # 9: ends like A's
    "+1 650 253 0000",  # 10
    "",  # 11
    None,  # 12
]
identifiers.USED.update(filter(None, PHONE_SPELLINGS))


def test_phones_are_compared_in_e164_form_however_they_are_written(roots):
    write(roots, table=pa.table({"phone": PHONE_SPELLINGS}))
    parquet = target(match={"phone": "phone"})
    assert parquet.locate({"phone": [PHONE]}).count == 7
    assert parquet.locate({"phone": [OTHER_PHONE]}).count == 0
    assert parquet.erase({"phone": [PHONE]}).count == 7
    assert stored(roots).column("phone").to_pylist() == PHONE_SPELLINGS[7:]


def test_only_phone_values_that_could_match_are_parsed(roots, monkeypatch):
    """Parsing every number in Python would take minutes on a large file."""
    numbers = [f"+855 12 {i:06d}" for i in range(2000)]
    write(roots, table=pa.table({"phone": numbers}))
    parsed = []
    real = parquet_file.normalized

    def counting(id_type, value):
        parsed.append(value)
        return real(id_type, value)

    monkeypatch.setattr(parquet_file, "normalized", counting)
    assert target(match={"phone": "phone"}).locate({"phone": ["+85512001234"]}).count == 1
    assert parsed == ["+855 12 001234", "+855 12 001234"]  # the candidate, then its groups


def test_struct_fields_and_integer_columns_can_be_matched(roots):
    write(roots)
    table = stored(roots)
    parquet = target(match={"user_id": "profile.user_id", "row": "id"})
    assert parquet.locate({"user_id": [USER_ID]}).count == 1
    assert parquet.locate({"row": ["7", "8"]}).count == 2
    erased = parquet.erase({"user_id": [USER_ID], "row": ["8"]})
    assert erased.count == 2
    assert stored(roots).equals(without(table, [4, 8]), check_metadata=True)


def test_a_top_level_column_with_a_dot_in_its_name_is_taken_literally(roots):
    write(roots, table=pa.table({"user.email": ["a@example.org", "c@example.org"]}))
    parquet = target(match={"email": "user.email"})
    assert parquet.locate({"email": [EMAIL]}).count == 1


def test_erase_groups_rewrites_once_and_counts_each_group(roots, monkeypatch):
    original = write(roots)
    table = stored(roots)
    groups = {
        21: {"email": [EMAIL]},  # rows 0, 5, 7
        22: {"phone": [PHONE]},  # row 3
        23: {"email": [THIRD_EMAIL], "phone": [OTHER_PHONE]},  # row 3 by e-mail, row 1 by phone
    }
    parquet = target()
    assert {k: v.remaining for k, v in parquet.verify_groups(groups).items()} == {
        21: 3,
        22: 1,
        23: 2,
    }
    renames = []
    real_replace = os.replace

    def counting(src, dst):
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    erased = parquet.erase_groups(groups)

    assert len(renames) == 1
    assert {k: (e.op, e.count) for k, e in erased.items()} == {
        21: ("delete", 3),
        22: ("delete", 1),
        23: ("delete", 2),
    }
    assert {(e.before, e.after) for e in erased.values()} == {
        (sha(original), sha((roots / "set.parquet").read_bytes()))
    }
    assert stored(roots).equals(without(table, [0, 1, 3, 5, 7]), check_metadata=True)
    assert {k: v.remaining for k, v in parquet.verify_groups(groups).items()} == {
        21: 0,
        22: 0,
        23: 0,
    }


def test_a_row_group_whose_rows_all_go_is_kept_empty(roots):
    write(roots)
    ids = {"email": [EMAIL, THIRD_EMAIL, "ba@example.org", "a@example.org.kh"]}
    erased = target().erase(ids)
    assert erased.count == 6
    footer = pq.ParquetFile(roots / "set.parquet").metadata
    assert [footer.row_group(i).num_rows for i in range(footer.num_row_groups)] == [0, 1, 2]


def test_nothing_matching_leaves_the_file_untouched(roots):
    original = write(roots)
    inode = (roots / "set.parquet").stat().st_ino
    erased = target().erase({"email": ["nobody@example.org"]})
    assert (erased.op, erased.count) == ("none", 0)
    assert erased.before == erased.after == sha(original)
    assert (roots / "set.parquet").stat().st_ino == inode
    assert os.listdir(roots) == ["set.parquet"]


def test_a_file_without_an_arrow_schema_keeps_its_own_metadata_and_gets_none(roots):
    """As Spark writes them: key-value metadata of its own, no Arrow schema."""
    spark = {b"org.apache.spark.sql.parquet.row.metadata": b'{"type":"struct","fields":[]}'}
    table = eval_table().replace_schema_metadata(None)
    with pq.ParquetWriter(roots / "set.parquet", table.schema, store_schema=False) as writer:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        writer.add_key_value_metadata(spark)
    before = stored(roots)

    assert target().erase(A).count == 4

    assert pq.ParquetFile(roots / "set.parquet").metadata.metadata == spark
    assert stored(roots).equals(without(before, MATCHING))


def test_a_crash_before_the_rename_leaves_the_original_and_a_retry_completes(roots, monkeypatch):
    original = write(roots)

    def crash(src, dst):
        raise OSError(5, "simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash)
        with pytest.raises(ApplicationError) as excinfo:
            target().erase(A)
    assert refused(excinfo) == "target_unavailable"
    assert sha((roots / "set.parquet").read_bytes()) == sha(original)
    assert os.listdir(roots) == ["set.parquet"]

    erased = target().erase(A)
    assert (erased.count, erased.before) == (4, sha(original))
    assert target().verify(A).remaining == 0
    assert os.listdir(roots) == ["set.parquet"]


def test_a_call_past_its_timeout_stops_and_changes_nothing(roots, monkeypatch):
    original = write(roots)
    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(Deadline, "clock", staticmethod(lambda: next(ticks)))
    with pytest.raises(ConnectorTimeout) as excinfo:
        target(timeout_seconds=25).erase(A)
    assert refused(excinfo) == "connector_timeout"
    assert (roots / "set.parquet").read_bytes() == original
    assert os.listdir(roots) == ["set.parquet"]


@pytest.mark.parametrize(
    ("match", "field", "reason"),
    [
        ({"email": "mail"}, "match.email", "not in the schema"),
        ({"email": "profile.mail"}, "match.email", "not in the schema"),
        ({"email": "note.x"}, "match.email", "not in the schema"),
        ({"email": "score"}, "match.email", "not a text or integer column"),
        ({"email": "tags"}, "match.email", "not a text or integer column"),
    ],
)
def test_a_column_missing_or_of_another_type_is_refused_at_call_time(roots, match, field, reason):
    original = write(roots)
    parquet = target(match=match)  # the schema is not read until a call
    for call in (parquet.locate, parquet.erase, parquet.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call({"email": [EMAIL]})
        assert refused(excinfo) == "invalid_target_config"
        assert excinfo.value.fields == {field: reason}
    assert (roots / "set.parquet").read_bytes() == original
    assert os.listdir(roots) == ["set.parquet"]


def test_a_non_nullable_column_that_is_not_text_cannot_be_masked(roots):
    write(roots)
    parquet = target(mask_columns=["email", "phone", "id"])
    with pytest.raises(ApplicationError) as excinfo:
        parquet.erase(A, op="mask")
    assert excinfo.value.fields == {"mask_columns": "cannot be masked"}
    assert parquet.erase(A).count == 4


def test_a_file_that_is_not_parquet_is_refused(roots):
    (roots / "set.parquet").write_bytes(b"email\na@example.org\n")
    with pytest.raises(ApplicationError) as excinfo:
        target().erase(A)
    assert refused(excinfo) == "file_unreadable"
    assert os.listdir(roots) == ["set.parquet"]


def test_a_missing_file_is_refused(roots):
    with pytest.raises(ApplicationError) as excinfo:
        target().locate(A)
    assert refused(excinfo) == "file_not_found"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked_dir"])
def test_paths_outside_the_roots_are_refused(roots, tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "secret.parquet"
    pq.write_table(pa.table({"email": [EMAIL]}), victim)
    content = victim.read_bytes()
    if how == "absolute":
        path = str(victim)
    elif how == "dotdot":
        path = "../outside/secret.parquet"
    elif how == "symlink":
        (roots / "set.parquet").symlink_to(victim)
        path = "set.parquet"
    else:
        (roots / "sub").symlink_to(outside)
        path = "sub/secret.parquet"
    with pytest.raises(ApplicationError) as excinfo:
        target(path)
    assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == content


def test_a_path_that_becomes_a_symlink_later_is_refused_at_call_time(roots, tmp_path):
    victim = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"email": [EMAIL], "phone": [PHONE]}), victim)
    content = victim.read_bytes()
    write(roots)
    parquet = target()
    (roots / "set.parquet").unlink()
    (roots / "set.parquet").symlink_to(victim)
    for call in (parquet.locate, parquet.erase, parquet.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call(A)
        assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == content


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": ""}, "path"),
        ({"path": 3}, "path"),
        ({"match": {}}, "match"),
        ({"match": ["email"]}, "match"),
        ({"match": {"email": ""}}, "match.email"),
        ({"match": {"email": "a" + ".b" * 16}}, "match.email"),
        ({"mask_columns": "email"}, "mask_columns"),
        ({"mask_columns": ["email"]}, "mask_columns"),
        ({"mask_value": None}, "mask_value"),
        ({"mask_value": "x" * 257}, "mask_value"),
        ({"timeout_seconds": "30"}, "timeout_seconds"),
    ],
)
def test_a_bad_config_names_its_key(roots, config, field):
    with pytest.raises(ApplicationError) as excinfo:
        target(**config)
    assert refused(excinfo) == "invalid_target_config"
    assert field in excinfo.value.fields

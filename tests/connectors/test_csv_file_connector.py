"""The `csv_file` connector: rows of a CSV file under a configured root. No database."""

import gzip
import hashlib
import os
import stat

import pytest

from connectors.base import Capability, ConnectorTimeout, Deadline
from connectors.csv_file import CsvFile
from core.errors import ApplicationError
from tests import identifiers

EMAIL = "a@example.org"
LONGER_EMAIL = "ba@example.org"
OTHER_EMAIL = "b@example.org"
THIRD_EMAIL = "c@example.org"
KEPT_EMAIL = "d@example.org"
PHONE = "+85512345678"
PHONE_WRITTEN = "+855 12 345 678"
identifiers.USED.update(
    {EMAIL, LONGER_EMAIL, OTHER_EMAIL, THIRD_EMAIL, KEPT_EMAIL, PHONE, PHONE_WRITTEN}
)

A = {"email": [EMAIL], "phone": [PHONE]}

HEADER = b"id,email,phone_number,name,note\r\n"
# Every record as its raw bytes; the subject A holds records 1, 2 and 7.
RECORDS = [
    "1,ba@example.org,,Dara,សួស្តី\r\n".encode(),  # 0: an address that ends with A's
    '2, A@Example.ORG ,,"Sokha ""Sok""",អរគុណ\r\n'.encode(),  # 1: A by e-mail
    '3,b@example.org,+855 12 345 678,"Nguyễn, Văn A","nhiều\r\ndòng"\r\n'.encode(),  # 2: A by phone
    "4,a@example.org.kh,,Somchai,สวัสดีครับ\r\n".encode(),  # 3: A's address, longer
    b"short\r\n",  # 4: fewer cells than the header
    b"\r\n",  # 5: blank
    '5,c@example.org,,"Trần Thị B","ghi chú ""x""\nline two"\r\n'.encode(),  # 6: quoted, 2 lines
    b"6,a@example.org,,Last,no newline",  # 7: A, without a final line break
]
MATCHING = {1, 2, 7}


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "exports"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


def target(path="users.csv", **config) -> CsvFile:
    config = {"path": path, "match": {"email": "email", "phone": "phone_number"}, **config}
    return CsvFile(config=config)


def write(roots, name="users.csv", content=None) -> bytes:
    content = HEADER + b"".join(RECORDS) if content is None else content
    path = roots / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    return content


def read(path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def refused(excinfo) -> str:
    return excinfo.value.code


def test_the_connector_declares_what_it_can_do(roots):
    csv_file = target()
    assert csv_file.capabilities == {
        Capability.LOCATE,
        Capability.DELETE,
        Capability.MASK,
        Capability.VERIFY,
        Capability.SCAN,
    }
    assert csv_file.batches
    assert (csv_file.erase_method, csv_file.verify_method) == ("csv_atomic_rewrite", "csv_rescan")


@pytest.mark.parametrize("name", ["users.csv", "users.csv.gz"])
def test_delete_drops_matching_rows_and_copies_the_others_byte_for_byte(roots, name):
    original = write(roots, name)
    path = roots / name
    path.chmod(0o640)
    csv_file = target(name)

    assert csv_file.locate(A).count == 3
    erased = csv_file.erase(A)

    content = read(path)
    kept = [r for i, r in enumerate(RECORDS) if i not in MATCHING]
    assert content == HEADER + b"".join(kept)
    assert (erased.op, erased.count, erased.skipped) == ("delete", 3, 1)
    assert erased.method == "csv_atomic_rewrite"
    assert (erased.before, erased.after) == (sha(original), sha(content))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(roots) == [name]
    assert csv_file.verify(A).remaining == 0
    assert csv_file.locate({"email": [THIRD_EMAIL]}).count == 1


def test_mask_blanks_only_the_configured_cells_of_matching_rows(roots):
    original = write(roots)
    csv_file = target(mask_columns=["email", "phone_number", "name"])

    erased = csv_file.erase(A, op="mask")

    content = (roots / "users.csv").read_bytes()
    assert (erased.op, erased.count) == ("mask", 3)
    assert (erased.before, erased.after) == (sha(original), sha(content))
    expected = list(RECORDS)
    expected[1] = "2,[erased],[erased],[erased],អរគុណ\r\n".encode()
    expected[2] = '3,[erased],[erased],[erased],"nhiều\r\ndòng"\r\n'.encode()
    expected[7] = b"6,[erased],[erased],[erased],no newline"
    assert content == HEADER + b"".join(expected)
    assert csv_file.verify(A).remaining == 0


def test_mask_defaults_to_the_match_columns_and_takes_a_mask_value(roots):
    write(roots, content=b"email,phone_number,name\nA@example.org,,Dara\nx@example.org,,Sok\n")
    identifiers.USED.add("x@example.org")
    target(mask_value="").erase({"email": [EMAIL]}, op="mask")
    expected = b"email,phone_number,name\n,,Dara\nx@example.org,,Sok\n"
    assert (roots / "users.csv").read_bytes() == expected


def test_emails_are_matched_exactly_and_without_regard_to_case(roots):
    rows = [
        "a@example.org",
        "ba@example.org",
        "a@example.org.kh",
        "xa@example.org",
        "A@EXAMPLE.ORG",
        " a@Example.org\t",
        "a@example.or",
        "a@example.org;b@example.org",
    ]
    identifiers.USED.update(rows)
    write(roots, content=("email,phone_number\n" + "".join(f'"{r}",\n' for r in rows)).encode())
    csv_file = target()
    assert csv_file.locate({"email": [EMAIL]}).count == 3
    assert csv_file.erase({"email": [EMAIL]}).count == 3
    assert (roots / "users.csv").read_bytes() == (
        b'email,phone_number\n"ba@example.org",\n"a@example.org.kh",\n"xa@example.org",\n'
        b'"a@example.or",\n"a@example.org;b@example.org",\n'
    )


def test_erase_groups_rewrites_once_and_counts_each_group(roots, monkeypatch):
    content = (
        b"email,phone_number\n"
        b"a@example.org,\n"  # 1
        b"b@example.org,+855 12 345 678\n"  # 2
        b"c@example.org,\n"  # 3
        b"a@example.org,+85512345678\n"  # 1 and 2
        b"d@example.org,\n"  # nobody's
        b"C@EXAMPLE.ORG,\n"  # 3
    )
    write(roots, content=content)
    groups = {11: {"email": [EMAIL]}, 12: {"phone": [PHONE]}, 13: {"email": [THIRD_EMAIL]}}
    csv_file = target()
    assert {k: v.remaining for k, v in csv_file.verify_groups(groups).items()} == {
        11: 2,
        12: 2,
        13: 2,
    }
    renames = []
    real_replace = os.replace

    def counting(src, dst):
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    erased = csv_file.erase_groups(groups)

    assert len(renames) == 1
    assert {k: (e.op, e.count) for k, e in erased.items()} == {
        11: ("delete", 2),
        12: ("delete", 2),
        13: ("delete", 2),
    }
    assert len({(e.before, e.after) for e in erased.values()}) == 1
    assert erased[11].before == sha(content)
    assert (roots / "users.csv").read_bytes() == b"email,phone_number\nd@example.org,\n"
    assert erased[11].after == sha(b"email,phone_number\nd@example.org,\n")
    assert {k: v.remaining for k, v in csv_file.verify_groups(groups).items()} == {
        11: 0,
        12: 0,
        13: 0,
    }


def test_a_group_with_nothing_in_the_file_gets_none(roots):
    write(roots)
    erased = target().erase_groups({1: A, 2: {"email": [KEPT_EMAIL]}}, op="mask")
    assert (erased[1].op, erased[1].count) == ("mask", 3)
    assert (erased[2].op, erased[2].count) == ("none", 0)


def test_nothing_matching_leaves_the_file_untouched(roots):
    content = write(roots, content=HEADER + RECORDS[0] + RECORDS[3])
    inode = (roots / "users.csv").stat().st_ino
    erased = target().erase(A)
    assert (erased.op, erased.count) == ("none", 0)
    assert erased.before == erased.after == sha(content)
    assert (roots / "users.csv").stat().st_ino == inode
    assert os.listdir(roots) == ["users.csv"]


def test_a_crash_before_the_rename_leaves_the_original_and_a_retry_completes(roots, monkeypatch):
    original = write(roots)

    def crash(src, dst):
        raise OSError(5, "simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash)
        with pytest.raises(ApplicationError) as excinfo:
            target().erase(A)
    assert refused(excinfo) == "target_unavailable"
    assert (roots / "users.csv").read_bytes() == original
    assert os.listdir(roots) == ["users.csv"]

    erased = target().erase(A)
    assert (erased.count, erased.before) == (3, sha(original))
    assert target().verify(A).remaining == 0
    assert os.listdir(roots) == ["users.csv"]


def test_a_call_past_its_timeout_stops_and_changes_nothing(roots, monkeypatch):
    content = write(roots, content=b"email\n" + b"".join(b"row %d\n" % i for i in range(3000)))
    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(Deadline, "clock", staticmethod(lambda: next(ticks)))
    with pytest.raises(ConnectorTimeout) as excinfo:
        target(match={"email": "email"}, timeout_seconds=15).erase({"email": [EMAIL]})
    assert refused(excinfo) == "connector_timeout"
    assert (roots / "users.csv").read_bytes() == content
    assert os.listdir(roots) == ["users.csv"]


def test_another_delimiter_and_encoding_are_kept(roots):
    content = "name;email\nJosé;a@example.org\nRenée;«b@example.org»\n".encode("latin-1")
    write(roots, content=content)
    csv_file = target(
        match={"email": "email"},
        delimiter=";",
        encoding="latin-1",
        mask_columns=["name", "email"],
        mask_value="effacé",
    )
    erased = csv_file.erase({"email": [EMAIL]}, op="mask")
    assert erased.count == 1
    assert (roots / "users.csv").read_bytes() == (
        "name;email\neffacé;effacé\nRenée;«b@example.org»\n".encode("latin-1")
    )


def test_a_utf8_byte_order_mark_is_kept_and_ignored_in_the_header(roots):
    write(roots, content="\ufeffemail,phone_number\na@example.org,\nb@example.org,\n".encode())
    assert target().erase({"email": [EMAIL]}).count == 1
    expected = "\ufeffemail,phone_number\nb@example.org,\n".encode()
    assert (roots / "users.csv").read_bytes() == expected


def test_an_empty_file_holds_nothing(roots):
    write(roots, content=b"")
    assert target().locate(A).count == 0
    assert target().erase(A).op == "none"


def test_a_match_column_missing_from_the_header_is_refused_at_call_time(roots):
    original = write(roots, content=b"email,mobile\na@example.org,\n")
    csv_file = target()  # the header is not read until a call
    for call in (csv_file.locate, csv_file.erase, csv_file.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call({"email": [EMAIL]})
        assert refused(excinfo) == "invalid_target_config"
        assert excinfo.value.fields == {"match.phone": "not in the header"}
    assert (roots / "users.csv").read_bytes() == original
    assert os.listdir(roots) == ["users.csv"]


def test_a_mask_column_missing_from_the_header_is_refused_when_masking(roots):
    write(roots, content=b"email,phone_number\na@example.org,\n")
    csv_file = target(mask_columns=["email", "phone_number", "nickname"])
    with pytest.raises(ApplicationError) as excinfo:
        csv_file.erase({"email": [EMAIL]}, op="mask")
    assert refused(excinfo) == "invalid_target_config"
    assert excinfo.value.fields == {"mask_columns": "not in the header"}
    assert csv_file.erase({"email": [EMAIL]}).count == 1


def test_a_column_named_twice_in_the_header_is_refused(roots):
    write(roots, content=b"email,phone_number,email\na@example.org,,x\n")
    with pytest.raises(ApplicationError) as excinfo:
        target().locate({"email": [EMAIL]})
    assert excinfo.value.fields == {"match.email": "ambiguous in the header"}


def test_a_file_that_is_not_csv_is_refused(roots):
    original = write(roots, content=b"email,phone_number\na@example.org,\rb@example.org,\n")
    with pytest.raises(ApplicationError) as excinfo:
        target().erase({"email": [EMAIL]})
    assert refused(excinfo) == "file_unreadable"
    assert (roots / "users.csv").read_bytes() == original
    assert os.listdir(roots) == ["users.csv"]


def test_a_missing_file_is_refused(roots):
    with pytest.raises(ApplicationError) as excinfo:
        target().erase(A)
    assert refused(excinfo) == "file_not_found"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked_dir"])
def test_paths_outside_the_roots_are_refused(roots, tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "secret.csv"
    victim.write_bytes(b"email\na@example.org\n")
    if how == "absolute":
        path = str(victim)
    elif how == "dotdot":
        path = "../outside/secret.csv"
    elif how == "symlink":
        (roots / "users.csv").symlink_to(victim)
        path = "users.csv"
    else:
        (roots / "sub").symlink_to(outside)
        path = "sub/secret.csv"
    with pytest.raises(ApplicationError) as excinfo:
        target(path)
    assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b"email\na@example.org\n"


def test_a_path_that_becomes_a_symlink_later_is_refused_at_call_time(roots, tmp_path):
    victim = tmp_path / "secret.csv"
    victim.write_bytes(b"email,phone_number\na@example.org,\n")
    write(roots)
    csv_file = target()
    (roots / "users.csv").unlink()
    (roots / "users.csv").symlink_to(victim)
    for call in (csv_file.locate, csv_file.erase, csv_file.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call({"email": [EMAIL]})
        assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b"email,phone_number\na@example.org,\n"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": ""}, "path"),
        ({"match": {}}, "match"),
        ({"match": {"Email": "email"}}, "match"),
        ({"match": {"email": ""}}, "match.email"),
        ({"match": {"email": "e\nmail"}}, "match.email"),
        ({"gzip": "yes"}, "gzip"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"encoding": "utf-16"}, "encoding"),
        ({"encoding": "no-such-codec"}, "encoding"),
        ({"encoding": 8}, "encoding"),
        ({"mask_columns": []}, "mask_columns"),
        ({"mask_columns": ["email", "email", "phone_number"]}, "mask_columns"),
        ({"mask_columns": ["email", "name"]}, "mask_columns"),
        ({"mask_value": 7}, "mask_value"),
        ({"mask_value": "中", "encoding": "latin-1"}, "mask_value"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_a_bad_config_names_its_key(roots, config, field):
    with pytest.raises(ApplicationError) as excinfo:
        target(**config)
    assert refused(excinfo) == "invalid_target_config"
    assert field in excinfo.value.fields


def test_identifiers_of_other_types_are_refused(roots):
    write(roots)
    with pytest.raises(ApplicationError) as excinfo:
        target().locate({"user_id": ["u1"]})
    assert refused(excinfo) == "identifier_type_not_supported"

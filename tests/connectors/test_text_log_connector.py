"""The `text_log` connector: identifiers inside plain-text logs and their rotations. No database."""

import gzip
import hashlib
import os
import stat

import pytest

from connectors.base import Capability
from connectors.text_log import TextLog
from core.errors import ApplicationError
from tests import identifiers

EMAIL = "a@example.org"
PLUS_EMAIL = "a+b@example.org"
PHONE = "+85512345678"
UID = "u.*"
OTHER_UID = "u42"
identifiers.USED.update({EMAIL, PLUS_EMAIL, PHONE, UID, OTHER_UID})


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "logs"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


def target(path="app.log", **config) -> TextLog:
    config = {"path": path, "id_types": ["email", "phone", "user_id"], **config}
    return TextLog(config=config)


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def refused(excinfo) -> str:
    return excinfo.value.code


KHMER_BEFORE = "ទូរស័ព្ទ"  # "telephone", written without a space before the number
KHMER_AFTER = "បានទាក់ទង"  # "contacted"
THAI_BEFORE = "อีเมล"  # "email"
THAI_AFTER = "ครับ"
LOG = [
    b"2024-05-01 login ok email=a@example.org ip=10.0.0.1\n",  # 0: 1 email
    b"2024-05-01 nothing to see here\n",  # 1
    f"2024-05-01 {KHMER_BEFORE}+85512345678{KHMER_AFTER} uid=u.*\n".encode(),  # 2: phone, uid
    b"2024-05-01 other ba@example.org a@example.org.kh xa+b@example.org\n",  # 3: none
    f"2024-05-01 {THAI_BEFORE}A@Example.ORG{THAI_AFTER} user u.*z uxu\n".encode(),  # 4: 1 email
    "2024-05-01 Người dùng a+b@example.org đã gọi 85512345678.\n".encode(),  # 5: email, phone
    b"2024-05-01 raw \xff\xfe bytes u.* and 185512345678 and +855123456789\n",  # 6: uid only
    b"trailing line without newline, u.*x or u.*",  # 7: 1 uid (the last one)
]
IDS = {"email": [EMAIL, PLUS_EMAIL], "phone": [PHONE], "user_id": [UID]}
# Occurrences per line, and the lines holding at least one.
OCCURRENCES = {0: 1, 2: 2, 4: 1, 5: 2, 6: 1, 7: 1}


def write_log(roots, name="app.log", lines=LOG) -> bytes:
    data = b"".join(lines)
    path = roots / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return data


def read_log(path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def test_redact_replaces_each_occurrence_and_leaves_other_bytes_alone(roots):
    data = write_log(roots)
    os.chmod(roots / "app.log", 0o640)
    log = target()
    assert log.locate(IDS).count == sum(OCCURRENCES.values()) == 8
    erased = log.erase(IDS)
    assert (erased.op, erased.count, erased.method) == ("mask", 8, "text_log_redact_atomic_rewrite")
    after = (roots / "app.log").read_bytes()
    assert erased.before == sha(data) and erased.after == sha(after)
    lines = after.splitlines(keepends=True)
    assert len(lines) == len(LOG)
    for number, line in enumerate(lines):
        if number not in OCCURRENCES:
            assert line == LOG[number]
    assert lines[0] == b"2024-05-01 login ok email=[erased] ip=10.0.0.1\n"
    assert lines[2].decode() == f"2024-05-01 {KHMER_BEFORE}[erased]{KHMER_AFTER} uid=[erased]\n"
    assert lines[4].decode() == f"2024-05-01 {THAI_BEFORE}[erased]{THAI_AFTER} user u.*z uxu\n"
    assert lines[5].decode() == "2024-05-01 Người dùng [erased] đã gọi [erased].\n"
    assert (
        lines[6] == b"2024-05-01 raw \xff\xfe bytes [erased] and 185512345678 and +855123456789\n"
    )
    assert lines[7] == b"trailing line without newline, u.*x or [erased]"
    assert stat.S_IMODE((roots / "app.log").stat().st_mode) == 0o640
    assert log.verify(IDS).remaining == 0
    assert os.listdir(roots) == ["app.log"]


def test_drop_line_removes_lines_holding_an_identifier_and_keeps_the_rest(roots):
    write_log(roots)
    log = target(mode="drop_line")
    assert not log.supports(Capability.MASK)
    assert log.locate(IDS).count == len(OCCURRENCES) == 6
    erased = log.erase(IDS)
    assert (erased.op, erased.count) == ("delete", 6)
    kept = [line for number, line in enumerate(LOG) if number not in OCCURRENCES]
    assert (roots / "app.log").read_bytes() == b"".join(kept)
    assert log.verify(IDS).remaining == 0
    with pytest.raises(ApplicationError) as excinfo:
        log.erase(IDS, op="mask")
    assert refused(excinfo) == "capability_not_supported"


def test_nothing_matching_leaves_the_file_untouched(roots):
    data = write_log(roots, lines=LOG[1:2] + LOG[3:4])
    inode = (roots / "app.log").stat().st_ino
    erased = target().erase(IDS)
    assert (erased.op, erased.count) == ("none", 0)
    assert erased.before == erased.after == sha(data)
    assert (roots / "app.log").stat().st_ino == inode


def test_emails_inside_other_emails_are_not_matched_but_case_is_ignored(roots):
    lines = [
        b"ba@example.org\n",
        b"a@example.org.kh\n",
        b"a@example.orgx\n",
        b"x.a@example.org\n",
        b"a@example.org-\n",
        b"<A@EXAMPLE.ORG>\n",
        b"mailto:a@Example.Org, then\n",
        b"end of sentence a@example.org.\n",
    ]
    write_log(roots, lines=lines)
    log = target()
    assert log.locate({"email": [EMAIL]}).count == 3
    log.erase({"email": [EMAIL]})
    assert (roots / "app.log").read_bytes().splitlines()[5:] == [
        b"<[erased]>",
        b"mailto:[erased], then",
        b"end of sentence [erased].",
    ]
    assert (roots / "app.log").read_bytes().splitlines()[:5] == [
        line.rstrip() for line in lines[:5]
    ]


def test_regex_metacharacters_in_values_are_literal(roots):
    lines = [b"aab@example.org a+b@example.org\n", b"uid=u.* uid=uxyz uid=u..\n", b"u.*_x\n"]
    write_log(roots, lines=lines)
    log = target()
    ids = {"email": [PLUS_EMAIL], "user_id": [UID]}
    assert log.locate(ids).count == 2
    log.erase(ids)
    assert (roots / "app.log").read_bytes() == (
        b"aab@example.org [erased]\nuid=[erased] uid=uxyz uid=u..\nu.*_x\n"
    )


def test_user_ids_are_exact_and_word_bounded(roots):
    write_log(roots, lines=[b"U42 u421 xu42 u42_ u42 (u42)\n"])
    log = target()
    assert log.locate({"user_id": [OTHER_UID]}).count == 2
    log.erase({"user_id": [OTHER_UID]})
    assert (roots / "app.log").read_bytes() == b"U42 u421 xu42 u42_ [erased] ([erased])\n"


def test_one_pass_serves_several_subjects(roots):
    write_log(roots, lines=[b"a@example.org u42\n", b"neither\n", b"u42 only\n"])
    erased = target(mode="drop_line").erase({"email": [EMAIL], "user_id": [OTHER_UID, UID]})
    assert erased.count == 2
    assert (roots / "app.log").read_bytes() == b"neither\n"


def test_rotated_siblings_including_gzip_are_handled(roots):
    main = write_log(roots, lines=[b"now a@example.org\n"])
    one = write_log(roots, "app.log.1", lines=[b"yesterday a@example.org\n", b"quiet\n"])
    two = write_log(roots, "app.log.2.gz", lines=[b"\xff a@example.org twice a@example.org\n"])
    ten = write_log(roots, "app.log.10.gz", lines=[b"quiet\n"])
    write_log(roots, "app.log.old", lines=[b"not a rotation a@example.org\n"])
    write_log(roots, "app.log2", lines=[b"not a rotation a@example.org\n"])
    log = target(rotated=True)
    assert [p.name for p in log.files()] == [
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.10.gz",
    ]
    assert log.locate({"email": [EMAIL]}).count == 4
    assert target().locate({"email": [EMAIL]}).count == 1  # without rotated: the main file only
    erased = log.erase({"email": [EMAIL]})
    assert erased.count == 4
    assert read_log(roots / "app.log.1") == b"yesterday [erased]\nquiet\n"
    assert read_log(roots / "app.log.2.gz") == b"\xff [erased] twice [erased]\n"
    assert read_log(roots / "app.log.10.gz") == ten
    assert b"a@example.org" in (roots / "app.log.old").read_bytes()

    def combined(*files):
        text = "".join(f"{name} {sha(data)}\n" for name, data in files)
        return sha(text.encode())

    assert erased.before == combined(
        ("app.log", main), ("app.log.1", one), ("app.log.2.gz", two), ("app.log.10.gz", ten)
    )
    assert erased.after == combined(
        ("app.log", read_log(roots / "app.log")),
        ("app.log.1", read_log(roots / "app.log.1")),
        ("app.log.2.gz", read_log(roots / "app.log.2.gz")),
        ("app.log.10.gz", ten),
    )
    assert log.verify({"email": [EMAIL]}).remaining == 0
    assert sorted(os.listdir(roots)) == [
        "app.log",
        "app.log.1",
        "app.log.10.gz",
        "app.log.2.gz",
        "app.log.old",
        "app.log2",
    ]


def test_a_crash_before_the_rename_leaves_the_original_and_a_retry_completes(roots, monkeypatch):
    data = write_log(roots)

    def crash(src, dst):
        raise OSError(5, "simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash)
        with pytest.raises(ApplicationError) as excinfo:
            target().erase(IDS)
    assert refused(excinfo) == "target_unavailable"
    assert (roots / "app.log").read_bytes() == data
    assert os.listdir(roots) == ["app.log"]

    erased = target().erase(IDS)
    assert erased.count == 8 and erased.before == sha(data)
    assert target().verify(IDS).remaining == 0
    assert os.listdir(roots) == ["app.log"]


def test_a_crash_among_rotated_files_is_finished_by_a_retry(roots, monkeypatch):
    write_log(roots, lines=[b"a@example.org\n"])
    write_log(roots, "app.log.1.gz", lines=[b"a@example.org\n"])
    real_replace = os.replace
    calls = []

    def crash_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "simulated crash")
        real_replace(src, dst)

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash_second)
        with pytest.raises(ApplicationError):
            target(rotated=True).erase({"email": [EMAIL]})
    assert read_log(roots / "app.log.1.gz") == b"a@example.org\n"
    assert sorted(os.listdir(roots)) == ["app.log", "app.log.1.gz"]
    erased = target(rotated=True).erase({"email": [EMAIL]})
    assert erased.count == 1
    assert read_log(roots / "app.log.1.gz") == b"[erased]\n"


@pytest.mark.parametrize("how", ["dotdot", "symlink", "absolute"])
def test_paths_outside_the_roots_are_refused(roots, tmp_path, how):
    victim = tmp_path / "secret.log"
    victim.write_bytes(b"a@example.org\n")
    if how == "dotdot":
        path = "../secret.log"
    elif how == "symlink":
        (roots / "app.log").symlink_to(victim)
        path = "app.log"
    else:
        path = str(victim)
    with pytest.raises(ApplicationError) as excinfo:
        target(path)
    assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b"a@example.org\n"


def test_a_rotated_sibling_linking_outside_the_roots_is_refused(roots, tmp_path):
    victim = tmp_path / "secret.log"
    victim.write_bytes(b"a@example.org\n")
    write_log(roots, lines=[b"a@example.org\n"])
    (roots / "app.log.1").symlink_to(victim)
    with pytest.raises(ApplicationError) as excinfo:
        target(rotated=True)
    assert refused(excinfo) == "path_outside_roots"
    log = target()  # without rotated the sibling is not part of the target
    log.erase({"email": [EMAIL]})
    assert victim.read_bytes() == b"a@example.org\n"


def test_a_path_that_becomes_a_symlink_later_is_refused_at_call_time(roots, tmp_path):
    victim = tmp_path / "secret.log"
    victim.write_bytes(b"a@example.org\n")
    write_log(roots, lines=[b"x\n"])
    log = target()
    (roots / "app.log").unlink()
    (roots / "app.log").symlink_to(victim)
    with pytest.raises(ApplicationError) as excinfo:
        log.erase({"email": [EMAIL]})
    assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b"a@example.org\n"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": ""}, "path"),
        ({"id_types": []}, "id_types"),
        ({"id_types": ["Email"]}, "id_types[0]"),
        ({"rotated": "yes"}, "rotated"),
        ({"mode": "shred"}, "mode"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_a_bad_config_names_its_key(roots, config, field):
    with pytest.raises(ApplicationError) as excinfo:
        target(**config)
    assert refused(excinfo) == "invalid_target_config"
    assert field in excinfo.value.fields


def test_identifiers_of_other_types_are_refused(roots):
    write_log(roots)
    with pytest.raises(ApplicationError) as excinfo:
        target(id_types=["email"]).locate({"user_id": [UID]})
    assert refused(excinfo) == "identifier_type_not_supported"


@pytest.mark.parametrize("mode", ["redact", "drop_line"])
def test_a_batch_counts_each_group_in_one_pass(roots, monkeypatch, mode):
    write_log(roots)
    path = roots / "app.log"
    groups = {
        "emails": {"email": [EMAIL, PLUS_EMAIL]},
        "phone": {"phone": [PHONE]},
        "uid": {"user_id": [UID]},
        "absent": {"user_id": [OTHER_UID]},
    }
    one_by_one = {key: target(mode=mode).locate(ids).count for key, ids in groups.items()}
    # Occurrences and lines agree here: no line holds one group's value twice.
    assert one_by_one == {"emails": 3, "phone": 2, "uid": 3, "absent": 0}
    checked = target(mode=mode).verify_groups(groups)
    assert {key: v.remaining for key, v in checked.items()} == one_by_one

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append(b), real_replace(a, b)))
    results = target(mode=mode).erase_groups(groups)
    assert len(renames) == 1
    assert {key: r.count for key, r in results.items()} == one_by_one
    assert results["absent"].op == "none"
    assert len({(r.before, r.after) for r in results.values()}) == 1
    assert results["uid"].before == sha(b"".join(LOG))
    assert results["uid"].after == sha(read_log(path))
    after = target(mode=mode).verify_groups(groups)
    assert {v.remaining for v in after.values()} == {0}
